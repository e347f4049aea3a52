"""The PBX roles on real lab hosts of a freshly started lab (its own, for this module):

- an OS point-release wave as the FIRST thing done on a fresh host (finding 8 of issue 13:
  the os_upgrade role used the point-release suite before apt had ever fetched its lists);
- pbx_update on a host already at the target: verify only, no package action, no restart,
  ``already_at_target`` reported as a typed fact;
- pbx_check reads the marker the update left on the host and the same configuration digest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from orchestrator import app, executor, lab
from orchestrator.inventory import render_inventory
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings

from .books import book_lab, one_pbx_customer
from .waves import cli, healthy_on, installs, reset

pytestmark = pytest.mark.lab
BASE, TARGET = "18.0.0", "18.1.0"
MARKER = "/var/lib/pbxops/last_update.json"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    customers = [one_pbx_customer("fresh", 90), one_pbx_customer("steady", 91)]
    with book_lab(tmp_path_factory.mktemp("platform"), customers) as settings:
        yield settings


def _run(s: Settings, playbook: str, host: str, **extravars: Any) -> executor.HostOutcome:
    inv = render_inventory(app.open_fleet(s), date.today())
    result = executor.run_playbook(s, playbook, inv, [host], extravars=extravars)
    return result.hosts[host]


def _unit(s: Settings, host: str) -> tuple[str, str]:
    """systemd's record of the PBX service's current start: (ActiveEnterTimestamp, MainPID)."""
    out = lab.run_in_host(s, host, ["systemctl", "show", "labpbx.service",
                                    "--property=ActiveEnterTimestamp,MainPID"])
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return props["ActiveEnterTimestamp"], props["MainPID"]


def _dpkg_log_lines(s: Settings, host: str) -> int:
    out = lab.run_in_host(s, host, ["sh", "-c", "wc -l < /var/log/dpkg.log 2>/dev/null || echo 0"])
    return int(out.strip() or 0)


def test_os_point_release_wave_is_the_first_thing_on_a_fresh_lab(fresh: Settings) -> None:
    s = fresh
    probe_suite = ["sh", "-c", "apt-get install -s -q -t bookworm-pbxops-point lab-os-release "
                               ">/dev/null 2>&1 && echo known || echo unknown"]
    assert lab.run_in_host(s, "fresh-pbx", probe_suite).strip() == "unknown", (
        "the fresh host already knows the point-release suite: this test would prove nothing")
    wave_id, _ = app.plan_wave(s, "debian-12.8",
                               options=PlanOptions(customers=("fresh",), canary_size=0))
    assert wave_id is not None
    code, result, tail = cli(s, "wave", "run", str(wave_id), "--ignore-windows")
    assert code == 0 and result["hosts"]["fresh-pbx"] == "done", tail
    assert lab.run_in_host(s, "fresh-pbx", ["cat", "/etc/pbxops-os-release"]).strip() == "12.8"
    report = {r["host"]: r for r in app.wave_report(s, wave_id)}["fresh-pbx"]
    assert (report["version_before"], report["version_after"]) == ("12.7", "12.8"), report
    marker = json.loads(lab.run_in_host(s, "fresh-pbx", ["cat", MARKER]))
    assert marker["wave"] == str(wave_id) and marker["result"] == "updated"
    assert (marker["target"], marker["version_before"]) == ("12.8", "12.7")
    healthy_on(s, "fresh-pbx", BASE)


def test_update_to_the_version_a_host_runs_is_verify_only(fresh: Settings) -> None:
    s = fresh
    reset(s, TARGET, "steady-pbx")
    unit_before, dpkg_before = _unit(s, "steady-pbx"), _dpkg_log_lines(s, "steady-pbx")
    installs_before = installs(s, "steady-pbx", TARGET)
    out = _run(s, "pbx_update.yml", "steady-pbx", pbx_update_packages={"labpbx": TARGET},
               pbx_update_release_version=TARGET, pbx_update_call_poll_seconds=1,
               pbxops_wave_id=4242)
    assert out.succeeded, (out.error, out.failed_task)
    facts = out.facts
    assert facts["already_at_target"] is True and facts["package_changed"] is False, facts
    assert facts["refused"] == "" and facts["unreachable"] is False
    assert (facts["version_before"], facts["version_after"]) == (TARGET, TARGET)
    assert "backup" not in facts, "nothing changes, so nothing is backed up"
    assert _unit(s, "steady-pbx") == unit_before, "the PBX service was restarted"
    assert _dpkg_log_lines(s, "steady-pbx") == dpkg_before, "dpkg did something"
    assert installs(s, "steady-pbx", TARGET) == installs_before
    healthy_on(s, "steady-pbx", TARGET)


def test_an_update_leaves_a_marker_that_pbx_check_reads_back(fresh: Settings) -> None:
    s = fresh
    reset(s, BASE, "steady-pbx")
    unit_before = _unit(s, "steady-pbx")
    out = _run(s, "pbx_update.yml", "steady-pbx", pbx_update_packages={"labpbx": TARGET},
               pbx_update_release_version=TARGET, pbx_update_call_poll_seconds=1,
               pbxops_wave_id=4243)
    assert out.succeeded, (out.error, out.failed_task)
    f = out.facts
    assert f["already_at_target"] is False and f["package_changed"] is True, f
    assert (f["version_before"], f["version_after"]) == (BASE, TARGET)
    assert _unit(s, "steady-pbx") != unit_before, "a changed package restarts the PBX"
    mode = lab.run_in_host(s, "steady-pbx", ["stat", "-c", "%a", MARKER, "/var/lib/pbxops"])
    assert mode.split() == ["600", "700"]
    check = _run(s, "pbx_check.yml", "steady-pbx").facts
    marker = check["last_update"]
    assert marker["wave"] == "4243" and marker["result"] == "updated", marker
    assert (marker["target"], marker["version_before"]) == (TARGET, BASE)
    assert marker["backup"] == f["backup"] and marker["started_at"] <= marker["finished_at"]
    assert check["config_digest"] == f["config_digest_before"] == marker["config_digest_before"]
    assert TARGET in check["server_header"] and check["version"] == TARGET
    reset(s, BASE, "steady-pbx")
