"""Hosts found ``running`` when a run starts were in flight when an earlier run died
(kill -9, a lost execution node). They are re-checked read-only (playbooks/pbx_check.yml)
and verified with the same post-checks a run uses: service active, SIP 200 from the host,
the target version installed, and for PBX releases the controller's own SIP probe
answering with the target version and (unless the release changes it) the configuration
digest recorded before the update. What the interrupted run recorded on the host
(``/var/lib/pbxops/last_update.json``: version before, backup path, finish time) goes into
the ledger, so a host verified on resume keeps its record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..executor import HostOutcome
from .results import Probe, sip_confirms
from .states import Event


@dataclass(frozen=True)
class Recovered:
    event: Event
    summary: str
    fields: dict[str, Any]


def _marker(out: HostOutcome, wave_id: int, target: str) -> dict[str, Any]:
    """The host's record of this wave's update ({} when it is another wave's or missing)."""
    marker = out.facts.get("last_update") or {}
    if not isinstance(marker, dict):
        return {}
    same = str(marker.get("wave", "")) == str(wave_id) and str(marker.get("target")) == target
    return marker if same else {}


def _finished(marker: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(marker["finished_at"]))
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Verifier:
    wave_id: int
    target: str
    pbx: bool
    config_changes: bool
    probe: Probe

    def problems(self, out: HostOutcome, address: str, marker: dict[str, Any],
                 server_shows_version: bool = True) -> list[str]:
        """Why the host is not verified at the target ([] when it is). Where the SIP Server
        header does not carry the version of record (Asterisk), the host's running check
        (the daemon runs the installed build) stands in for it."""
        f = out.facts
        found: list[str] = []
        if f.get("service") != "active":
            found.append(f"service {f.get('service') or 'unknown'}")
        if int(f.get("sip_status", 0) or 0) != 200:
            found.append(f"SIP status {f.get('sip_status') or 'none'}")
        if self.pbx:
            if str(f.get("version", "")) != self.target:
                found.append(f"installed {f.get('version') or '?'}")
            answer = self.probe(address)
            if not sip_confirms(answer, self.target, server_shows_version):
                found.append(f"the PBX answers as {answer.version or '?'}")
            if not server_shows_version and not f.get("running"):
                found.append("the running PBX daemon is not the installed build")
            digest = str(marker.get("config_digest_before", ""))
            now = str(f.get("config_digest", ""))
            if not self.config_changes and digest and now and digest != now:
                found.append("configuration changed")
        elif marker.get("result") != "updated":
            found.append("no finished upgrade recorded on the host")
        return found

    def recheck(self, step: str, version_before: str, out: HostOutcome,
                address: str, now: datetime, server_shows_version: bool = True) -> Recovered:
        where = step or "?"
        if out.unreachable:
            return Recovered(Event.RECHECK_FAILED,
                             f"in flight (step {where}) when the last run stopped and now "
                             f"unreachable: {out.error}",
                             {"error": out.error or "unreachable"})
        marker = _marker(out, self.wave_id, self.target)
        problems = self.problems(out, address, marker, server_shows_version)
        version = str(out.facts.get("version", ""))
        healthy = out.facts.get("service") == "active" and int(
            out.facts.get("sip_status", 0) or 0) == 200
        record = {"version_before": str(marker.get("version_before") or version_before),
                  "detail_backup": str(marker.get("backup", ""))}
        if marker.get("result") == "rolled_back":
            return Recovered(Event.ROLLED_BACK,
                             f"in flight (step {where}) when the last run stopped; its update "
                             f"failed on the host and was rolled back to {version or '?'}",
                             {**record, "error": "update failed and was rolled back (found on "
                              "resume)", "finished_at": _finished(marker) or now})
        if not problems and not marker:  # the marker precedes any package action
            return Recovered(Event.AT_TARGET,
                             f"in flight (step {where}) when the last run stopped; found at "
                             f"{self.target} with no record of this wave changing it: already "
                             "at target, verified with the run's post-checks",
                             {"version_before": version, "version_after": version,
                              "finished_at": now})
        if not problems:
            return Recovered(Event.RECHECK_DONE,
                             f"completed before the last run stopped (in step {where}); "
                             f"verified on resume at {self.target} with the run's post-checks",
                             {**record, "version_after": version or self.target,
                              "finished_at": _finished(marker) or now})
        if healthy:
            return Recovered(Event.RECHECK_AGAIN,
                             f"in flight (step {where}) when the last run stopped; healthy but "
                             f"not verified ({', '.join(problems)}): will be updated again",
                             {**record, "started_update": bool(marker)})
        if not marker:  # the marker precedes any change: this wave never touched it
            return Recovered(Event.REFUSED,
                             f"skipped, not touched: in flight (step {where}) when the last "
                             f"run stopped, before any change; found unhealthy "
                             f"({', '.join(problems)})",
                             {**record, "error": f"not touched; unhealthy ({', '.join(problems)})",
                              "version_after": ""})
        return Recovered(Event.RECHECK_FAILED,
                         f"in flight (step {where}) when the last run stopped; not healthy "
                         f"({', '.join(problems)}): needs a technician, then "
                         f"`pbxops wave retry-failed {self.wave_id}`",
                         {**record, "error": "unhealthy after interrupted update "
                          f"(version {version or '?'})"})
