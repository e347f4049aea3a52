"""Scheduled waves, the pure part: when a wave should go on by itself (the next openings
of its pending hosts' maintenance windows) and the systemd units that make it so.

The timer has one ``OnCalendar=`` per opening (UTC) and ``Persistent=true``: an opening
missed while the controller was down fires at its next boot. Each firing runs
``pbxops wave resume ID --scheduled``, which re-plans the timer from the recorded states
afterwards (the next openings) and removes it once the wave is finished or halted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import systemd
from .gates import Gate, Gates

MAX_OPENINGS = 24  # OnCalendar lines per timer; the timer is re-planned after each firing


def unit_name(wave_id: int) -> str:
    return f"pbxops-wave-{wave_id}"


def next_openings(gates: Gates, pending: Iterable[str], now: datetime) -> list[datetime]:
    """Distinct start times (UTC, to the minute) at which pending hosts may start: now for
    a host whose window is open, else its window's next opening."""
    found: set[datetime] = set()
    for hostname in pending:
        d = gates.check(hostname, now)
        if d.gate == Gate.START:
            found.add(now)
        elif d.gate == Gate.WAIT and d.at is not None:
            found.add(d.at)
    minutes = {t.astimezone(UTC).replace(second=0, microsecond=0) for t in found}
    return sorted(minutes)[:MAX_OPENINGS]


@dataclass(frozen=True)
class Units:
    service: str
    timer: str


def _calendar(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:00 UTC")


def render_units(wave_id: int, openings: Sequence[datetime], argv: Sequence[str],
                 workdir: str, env: Mapping[str, str] | None = None) -> Units:
    """The service (one scheduled resume) and its timer. ``argv`` is how to run pbxops
    (absolute paths); settings come from the config file named in it."""
    name = unit_name(wave_id)
    exec_start = " ".join(_quote(a) for a in argv)
    service = (
        "[Unit]\n"
        f"Description=pbxops: wave {wave_id} goes on at its next maintenance window\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"WorkingDirectory={_quote(workdir)}\n"
        + "".join(f"Environment={_quote(f'{k}={v}')}\n" for k, v in (env or {}).items())
        + f"ExecStart={exec_start}\n"
        "# 10 halted, 11 finished with failures, 12 waiting: results, not unit failures\n"
        "SuccessExitStatus=10 11 12\n"
        "KillMode=mixed\nTimeoutStopSec=1800\n"
    )
    calendars = "".join(f"OnCalendar={_calendar(t)}\n" for t in openings)
    timer = (
        "[Unit]\n"
        f"Description=pbxops: next maintenance windows of wave {wave_id}\n\n"
        "[Timer]\n"
        f"{calendars}"
        "Persistent=true\nAccuracySec=1s\n"
        f"Unit={name}.service\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return Units(service, timer)


def _quote(arg: str) -> str:
    """systemd's quoting for ExecStart= words (``systemd.quote``)."""
    return systemd.quote(arg)
