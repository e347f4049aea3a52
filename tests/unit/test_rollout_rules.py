"""Rollout rules without the lab (the executor is replaced): the ledger step of a task,
skipped hosts in the wave's outcome, a skipped canary halting the wave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import app, executor
from orchestrator.ledger import waves as wl
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings, load_settings
from orchestrator.waves import RunOptions
from orchestrator.waves.steps import advances, step_of

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("role", "path", "step"),
    [
        ("pbx_preflight", "/p/roles/pbx_preflight/tasks/main.yml:2", "precheck"),
        ("pbx_check", "/p/roles/pbx_check/tasks/main.yml:9", "precheck"),
        ("pbx_update", "/p/roles/pbx_update/tasks/precheck.yml:12", "precheck"),
        ("pbx_update", "/tmp/pbxops-x/project/roles/pbx_update/tasks/drain.yml:2", "drain"),
        ("pbx_update", "/p/roles/pbx_update/tasks/backup.yml:2", "backup"),
        ("pbx_update", "/p/roles/pbx_update/tasks/update.yml:4", "update"),
        ("pbx_update", "/p/roles/pbx_update/tasks/verify.yml:2", "postcheck"),
        ("pbx_update", "/p/roles/pbx_update/tasks/rollback.yml:2", "rollback"),
        ("os_upgrade", "/p/roles/os_upgrade/tasks/upgrade.yml:3", "update"),
        ("pbx_update", "/p/roles/pbx_update/tasks/main.yml:3", None),
        (None, None, None),
    ],
)
def test_step_of_a_task(role: str | None, path: str | None, step: str | None) -> None:
    assert step_of(role, path) == step


def _settings(tmp_path: Path) -> Settings:
    (tmp_path / "book" / "customers").mkdir(parents=True)
    for i, cid in enumerate(("canary", "alpha", "bravo")):
        system = {"hostname": f"{cid}-pbx", "site": "main", "address": f"127.0.{i}.50",
                  "platform": "asterisk", "pbx_profile": "labpbx",
                  "deployment": "hardware", "os_release": "12",
                  "licences": [{"kind": "user", "count": 5}], "extensions": 5,
                  "internal": cid == "canary",
                  "maintenance_window": {"slots": ["mon-sun 00:00-24:00"]}}
        customer = {"id": cid, "name": cid, "timezone": "Europe/Berlin",
                    "contacts": [{"email": f"it@{cid}.example"}],
                    "sites": [{"id": "main", "subnet": f"127.0.{i}.0/24"}], "systems": [system],
                    "contracts": [{"id": f"{cid}-c", "kind": "software_maintenance",
                                   "start": "2020-01-01", "end": "2030-12-31"}]}
        (tmp_path / "book" / "customers" / f"{cid}.yml").write_text(yaml.safe_dump(customer))
    (tmp_path / "book" / "releases.yml").write_text(
        (REPO / "inventory/demo/releases.yml").read_text())
    return load_settings(env={}, args={
        "book": str(tmp_path / "book"), "state_dir": str(tmp_path / "state"),
        "ledger_url": f"sqlite:///{tmp_path}/l.sqlite", "smtp_port": 1})


def _all_skipped(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    batches: list[list[str]] = []

    def fake_run(settings: Settings, playbook: str, inventory: Any, hosts: Any,
                 **kw: Any) -> Any:
        batches.append(list(hosts))
        outs = {h: executor.HostOutcome(h, ok=3, failed=True, failed_task="Fail when full",
                                        error="not enough disk space; not touched",
                                        facts={"refused": "not enough disk space"})
                for h in hosts}
        return executor.RunResult("x", "failed", 2, outs, Path("/nonexistent"))

    monkeypatch.setattr(executor, "run_playbook", fake_run)
    return batches


def test_a_skipped_canary_halts_the_wave(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(tmp_path)
    batches = _all_skipped(monkeypatch)
    wave_id, _ = app.plan_wave(s, "pbx-18.1", options=PlanOptions(canary_size=1, batch_size=2))
    assert wave_id is not None
    outcome = app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1))
    assert batches == [["canary-pbx"]]
    assert outcome.status == "halted" and "canary was skipped" in outcome.reason
    assert outcome.hosts == {"canary-pbx": "skipped", "alpha-pbx": "pending",
                             "bravo-pbx": "pending"}


def test_skipped_hosts_end_the_wave_with_failures_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _settings(tmp_path)
    _all_skipped(monkeypatch)
    wave_id, _ = app.plan_wave(s, "pbx-18.1", options=PlanOptions(
        canary_size=0, batch_size=5, customers=("alpha", "bravo")))
    assert wave_id is not None
    outcome = app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1))
    assert outcome.status == "completed_with_failures"
    assert "2 host(s) skipped by the pre-checks" in outcome.reason
    assert "alpha-pbx (skipped, not touched: not enough disk space" in outcome.reason
    rows = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}
    # the step is where the host was (a step name), the task that refused is in the error
    assert rows["bravo-pbx"].status == "skipped" and rows["bravo-pbx"].step == "starting"
    assert "(task: Fail when full)" in rows["bravo-pbx"].error


@pytest.mark.parametrize(("current", "step", "moves"), [
    ("starting", "precheck", True), ("precheck", "drain", True), ("update", "postcheck", True),
    ("update", "precheck", False),  # the OS upgrade's verify through pbx_check
    ("rollback", "postcheck", False), ("postcheck", "rollback", True), ("drain", None, False),
])
def test_steps_only_move_forward(current: str, step: str | None, moves: bool) -> None:
    assert advances(current, step) is moves
