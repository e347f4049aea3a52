"""What a host's run means for its state: the typed facts the roles set
(``<role>_out_*``, see executor.HostOutcome.facts) and the controller's own SIP probe
decide; no message prefixes or task names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..executor import HostOutcome
from ..sipprobe import SipProbeResult
from .states import Event

Probe = Callable[[str], SipProbeResult]  # address -> the controller's SIP OPTIONS answer


@dataclass(frozen=True)
class HostResult:
    event: Event
    summary: str
    version_before: str = ""
    version_after: str = ""
    backup: str = ""


def _fact(out: HostOutcome, name: str) -> str:
    return str(out.facts.get(name, "") or "")


def _flag(out: HostOutcome, name: str) -> bool:
    return str(out.facts.get(name, "")).lower() in ("true", "1", "yes")


def sip_confirms(answer: SipProbeResult, target: str, server_shows_version: bool) -> bool:
    """The controller's SIP answer confirms the PBX at ``target``: status 200 and, where the
    Server header carries the version of record (LabPBX), that version. Asterisk's header
    shows the version compiled into the binary (the same for every repack or Debian
    rebuild): there a 200 from a server naming itself confirms the PBX answers, and the
    version of record (dpkg) and the running build are checked on the host by the roles."""
    if answer.status != 200:
        return False
    return answer.version == target if server_shows_version else bool(answer.server)


def classify(out: HostOutcome, *, pbx: bool, target: str, address: str,
             probe: Probe, known_before: str = "",
             server_shows_version: bool = True) -> HostResult:
    """``known_before``: the version recorded when this wave first touched the host (a
    re-run after an interrupted install would report the new version as "before").
    ``server_shows_version``: False for a PBX profile with a running check (platforms.py)."""
    before = known_before or _fact(out, "version_before")
    facts = dict(version_before=before, version_after=_fact(out, "version_after"),
                 backup=_fact(out, "backup"))
    if out.unreachable or _flag(out, "unreachable"):
        return HostResult(Event.FAILED, f"unreachable: {out.error}", **facts)
    if refused := _fact(out, "refused"):
        return HostResult(Event.REFUSED, f"skipped, not touched: {refused}", **facts)
    if out.failed and _flag(out, "rolled_back"):
        return HostResult(Event.ROLLED_BACK,
                          f"update failed and was rolled back: {out.error}", **facts)
    if out.failed or not out.ok:
        return HostResult(Event.FAILED,
                          f"update failed: {out.error or 'no result from the host'}", **facts)
    if pbx:
        answer = probe(address)
        if not sip_confirms(answer, target, server_shows_version):
            return HostResult(Event.FAILED, "host reported success but SIP says status "
                              f"{answer.status}, version {answer.version}", **facts)
    if _flag(out, "already_at_target"):
        return HostResult(Event.AT_TARGET, f"already at {target}: verified only, nothing "
                          "installed, not restarted", **facts)
    how = " (SIP confirmed)" if pbx else ""
    return HostResult(Event.UPDATED, f"updated {before or '?'} -> "
                      f"{facts['version_after'] or target}{how}{_registrations(out)}", **facts)


def _registrations(out: HostOutcome) -> str:
    """The registrations post-check's count (roles/pbx_update/tasks/registrations.yml):
    endpoints registered before the update, and those that registered again after it."""
    before = out.facts.get("registered_before")
    if not isinstance(before, dict) or not before:
        return ""
    again = out.facts.get("registered_after")
    n = len(again) if isinstance(again, list) else 0
    return f"; {n} of {len(before)} registered endpoints registered again"
