"""A scheduled wave goes on by itself at its window's opening, after the controller rebooted.

The controller is a booted lab host (systemd as PID 1, which this machine lacks) with
pbxops' own virtualenv and checkout mounted read-only at the same paths, its own book,
SQLite ledger and ssh identity for the lab. On it, as an ops engineer would: plan, run
(the window is closed: the wave ends `waiting`, exit 12), `wave schedule`, then the
controller is rebooted. When the customer's window opens, systemd's timer runs
`wave resume --scheduled`: the PBX is updated (checked from outside over SIP), the wave is
`completed` and the timer is gone.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import lab
from orchestrator.lab.nodes import node_binds
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe

from .books import REPO, book_lab, one_pbx_customer
from .conftest import eventually

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.environ.get("PBXOPS_STRATEGY") == "linear",
                       reason="the timer and systemd do not depend on the Ansible strategy: "
                              "run once, under the default"),
]

CTL = "ctl"
OCTET = 75
PBX_ADDRESS = f"10.210.{OCTET}.10"
LEAD = timedelta(minutes=3)  # the window opens this long after the test starts


def _window(now: datetime) -> tuple[datetime, dict[str, Any]]:
    start = (now + LEAD).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = min(start + timedelta(minutes=60), start.replace(hour=23, minute=59))
    if end - start < timedelta(minutes=30):  # too close to midnight UTC for this test
        pytest.skip("the window would cross midnight UTC")
    slot = f"mon-sun {start:%H:%M}-{end:%H:%M}"
    return start, {"slots": [slot]}


@pytest.fixture(scope="module")
def ctl_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, datetime]]:
    opens, window = _window(datetime.now(UTC))
    sched = one_pbx_customer("sched", OCTET, tz="UTC", window=window)
    ctl = lab.HostSpec(CTL, IPv4Address(f"10.210.{OCTET}.20"),
                       IPv4Network(f"10.210.{OCTET}.0/24"), (*node_binds(), str(REPO)))
    with book_lab(tmp_path_factory.mktemp("sched"), [sched], extra_specs=[ctl]) as s:
        _install_controller(s)
        yield s, opens


def _write(s: Settings, path: str, text: str, mode: str = "600") -> None:
    script = (f"mkdir -p -m 700 {shlex.quote(str(Path(path).parent))} && "
              f"printf %s {shlex.quote(text)} > {shlex.quote(path)} && chmod {mode} {shlex.quote(path)}")
    lab.run_in_host(s, CTL, ["sh", "-c", script])


def _install_controller(s: Settings) -> None:
    """The controller's own settings, book and lab ssh identity."""
    paths = lab.LabPaths.of(s)
    for f in sorted((s.book / "customers").glob("*.yml")):
        _write(s, f"/srv/book/customers/{f.name}", f.read_text())
    _write(s, "/srv/book/releases.yml", (s.book / "releases.yml").read_text())
    _write(s, "/srv/ssh/key", paths.ssh_key.read_text())
    _write(s, "/srv/ssh/known_hosts", paths.known_hosts.read_text())
    _write(s, "/srv/ssh/config", (
        f"Host sched-pbx\n    HostName {PBX_ADDRESS}\n"
        "Host *\n    User pbxops\n    IdentityFile /srv/ssh/key\n    IdentitiesOnly yes\n"
        "    UserKnownHostsFile /srv/ssh/known_hosts\n    StrictHostKeyChecking yes\n"
        "    BatchMode yes\n    ConnectTimeout 5\n"))
    _write(s, "/srv/pbxops.yml", yaml.safe_dump({
        "book": "/srv/book", "state_dir": "/var/lib/pbxops", "ssh_config": "/srv/ssh/config",
        "smtp_port": 1, "secret_key_file": "/var/lib/pbxops/secret.key"}))


def _pbxops(s: Settings, *args: str) -> tuple[int, str]:
    """pbxops on the controller host, as root with a clean environment."""
    argv = [sys.executable, "-m", "orchestrator.cli", "--config", "/srv/pbxops.yml", *args]
    script = (f"cd {shlex.quote(str(REPO))} && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "
              f"HOME=/root {shlex.join(argv)} 2>&1; echo \"rc=$?\"")
    out = lab.run_in_host(s, CTL, ["sh", "-c", script])
    body, _, rc = out.rstrip().rpartition("rc=")
    return int(rc), body


def _status(s: Settings, wave_id: int) -> dict[str, Any]:
    code, out = _pbxops(s, "wave", "status", str(wave_id), "--json")
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)[0]
    return result


def _boot_id(s: Settings) -> str:
    """When the controller's PID 1 started (changes with each boot)."""
    try:
        return lab.run_in_host(s, CTL, ["sh", "-c", "cut -d' ' -f22 /proc/1/stat"]).strip()
    except Exception:
        return ""


def _booted(s: Settings) -> bool:
    try:
        state = lab.run_in_host(s, CTL, ["systemctl", "is-system-running"]).strip()
    except Exception:
        return False
    return state in ("running", "degraded")


def test_a_scheduled_wave_resumes_itself_at_the_window_after_a_controller_reboot(
    ctl_env: tuple[Settings, datetime],
) -> None:
    s, opens = ctl_env
    assert eventually(lambda: _booted(s), 60), "the controller host did not boot"
    code, out = _pbxops(s, "wave", "plan", "--release", "pbx-18.1", "--canary", "0", "--json")
    assert code == 0, out
    wave_id = int(json.loads(out)["wave"])
    code, out = _pbxops(s, "wave", "run", str(wave_id))
    assert code == 12, out  # waiting: the window is not open yet
    assert probe(PBX_ADDRESS, timeout=3).version == "18.0.0"

    code, out = _pbxops(s, "wave", "schedule", str(wave_id))
    assert code == 0 and f"next at {opens:%Y-%m-%dT%H:%M}" in out, out
    assert _status(s, wave_id)["next_run"].startswith(f"{opens:%Y-%m-%dT%H:%M}")
    timers = lab.run_in_host(s, CTL, ["systemctl", "list-timers", "--all", "--no-pager"])
    assert f"pbxops-wave-{wave_id}.timer" in timers, timers

    boot = _boot_id(s)
    lab.inject_fault(s, CTL, "reboot")  # the controller goes down and comes back
    assert eventually(lambda: _boot_id(s) not in ("", boot) and _booted(s), 120, 1), (
        "the controller did not come back")
    assert datetime.now(UTC) < opens, "the test was too slow: the window opened already"
    assert probe(PBX_ADDRESS, timeout=3).version == "18.0.0", "updated before its window"

    wait = (opens - datetime.now(UTC)).total_seconds() + 240
    done = eventually(lambda: _status(s, wave_id)["status"] == "completed", wait, 5)
    status = _status(s, wave_id)
    assert done, status
    assert probe(PBX_ADDRESS, timeout=3).version == "18.1.0"
    assert status["next_run"] == "", "the timer stayed after the wave completed"
    units = lab.run_in_host(s, CTL, ["sh", "-c", "ls /etc/systemd/system | grep pbxops || true"])
    assert units.strip() == "", units
    code, out = _pbxops(s, "wave", "report", str(wave_id), "--format", "json")
    row = json.loads(out)[0]
    assert row["status"] == "done" and row["version_before"] == "18.0.0", row
    started = datetime.fromisoformat(row["started_at"])
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    assert started >= opens, f"started {started} before the window {opens}"
