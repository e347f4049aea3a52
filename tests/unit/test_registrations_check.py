"""The update's registrations post-check (roles/pbx_update: registered.yml before,
registrations.yml after): its filters, and the real tasks run by ansible-playbook on this
machine with the profile's command replaced by a file of ``AOR EXPIRY`` lines (what the
asterisk profile's command prints; the lab test runs it against real Asterisk)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.platforms import profile
from orchestrator.waves.steps import step_of
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "registrations", REPO / "roles/pbx_update/filter_plugins/registrations.py")
assert _spec and _spec.loader
reg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reg)


def test_live_contacts_keep_the_latest_unexpired_expiry_per_aor() -> None:
    lines = ["1000", "101 1300", "101 1200", "102 999", "103 1000", "garbage", "104 x", "105 1001"]
    assert reg.live_contacts(lines) == {"101": 1300, "105": 1001}
    assert reg.live_contacts([]) == {} and reg.live_contacts(["no clock", "101 5"]) == {}


def test_only_a_renewed_contact_counts_as_registered_again() -> None:
    before = {"101": 1300, "102": 1400}
    assert reg.registered_again({"101": 1300, "102": 1500}, before) == ["102"]  # 101 kept only
    assert reg.registered_again({"101": 1301, "102": 1401, "103": 9}, before) == ["101", "102"]
    assert reg.registered_again({}, before) == []


def _play(tmp: Path, before: str, after: str | None, minutes: int = 0) -> dict[str, Any]:
    """Run registered.yml against ``before``, then (``after``) registrations.yml."""
    contacts = tmp / "contacts"
    contacts.write_text(before)
    tasks: list[dict[str, Any]] = [
        {"ansible.builtin.include_role": {"name": "pbx_update", "tasks_from": "registered"}},
        {"ansible.builtin.set_fact": {"pbx_update_out_registered_before": "{{ pbx_update_registered }}"}},
    ]
    if after is not None:
        tasks += [
            {"ansible.builtin.copy": {"content": after, "dest": str(contacts), "mode": "0600"}},
            {"ansible.builtin.include_role": {"name": "pbx_update", "tasks_from": "registrations"}},
        ]
    tasks.append({"ansible.builtin.copy": {
        "content": "{{ {'before': pbx_update_out_registered_before, "
                   "'after': pbx_update_out_registered_after | default(None)} | to_json }}",
        "dest": str(tmp / "out.json"), "mode": "0600"}})
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {
        "pbx_update_registrations_command": f"cat {contacts}",
        "pbx_update_registration_minutes": minutes,
        "pbx_update_registration_poll_seconds": 1,
        "ansible_python_interpreter": sys.executable}, "tasks": tasks}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["ansible-playbook", "-c", "local", "-i", "localhost,", "play.yml"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    result = json.loads((tmp / "out.json").read_text()) if (tmp / "out.json").exists() else {}
    return {"rc": done.returncode, "out": done.stdout + done.stderr, **result}


def test_renewed_registrations_pass(tmp_path: Path) -> None:
    t = int(time.time())
    r = _play(tmp_path, f"101 {t + 600}\n102 {t + 600}\n103 {t - 5}\n",
              f"101 {t + 700}\n102 {t + 650}\n")
    assert r["rc"] == 0, r["out"]
    assert r["before"] == {"101": t + 600, "102": t + 600}  # 103 had expired
    assert sorted(r["after"]) == ["101", "102"]


def test_contacts_kept_across_a_restart_but_never_renewed_fail_the_update(tmp_path: Path) -> None:
    t = int(time.time())
    r = _play(tmp_path, f"101 {t + 600}\n102 {t + 600}\n", f"101 {t + 700}\n102 {t + 600}\n")
    assert r["rc"] != 0
    assert "registrations lost: 1 of 2 endpoints registered again" in r["out"]
    assert "(not again: 102)" in r["out"]


def test_nothing_registered_before_is_recorded_as_empty(tmp_path: Path) -> None:
    r = _play(tmp_path, "", None)
    assert r["rc"] == 0, r["out"]
    assert r["before"] == {}


def test_the_wait_is_a_postcheck_and_the_reading_before_is_not_a_step() -> None:
    assert step_of("pbx_update", "/x/roles/pbx_update/tasks/registrations.yml:3") == "postcheck"
    assert step_of("pbx_update", "/x/roles/pbx_update/tasks/registered.yml:3") is None


def test_only_real_asterisk_has_a_registrations_command() -> None:
    assert profile("asterisk").registrations_command
    for name in ("labpbx", "freepbx", "3cx"):
        assert profile(name).registrations_command == ""


def test_the_asterisk_command_reads_contacts_from_the_astdb() -> None:
    """The profile's command against what `asterisk -rx 'database show registrar/contact'`
    prints (asterisk replaced by a shell function)."""
    db = ('/registrar/contact/101;@8f3c1d2e          : {"qualify_timeout":"3.000000",'
          '"expiration_time":"1732712345","uri":"sip:101@10.1.1.5:5060"}\n'
          '/registrar/contact/102;@aa                : {"expiration_time":"1732712999"}\n'
          "2 results found.\n")
    stub = f"asterisk() {{ printf '%s' '{db}'; }}; "
    done = subprocess.run(["bash", "-c", stub + profile("asterisk").registrations_command],
                          capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["101 1732712345", "102 1732712999"]


@pytest.mark.parametrize("kind", ["software_maintenance", "hosting"])
def test_the_bound_comes_from_the_update_contract(kind: str) -> None:
    from orchestrator.model.contract import Hosting, SoftwareMaintenance
    cls = SoftwareMaintenance if kind == "software_maintenance" else Hosting
    k = cls.model_validate({"id": "k", "kind": kind, "start": "2026-01-01",
                            "registration_recovery_minutes": 3})
    assert k.registration_recovery_minutes == 3
    assert cls.model_validate({"id": "k", "kind": kind, "start": "2026-01-01"}
                              ).registration_recovery_minutes == 10


def _classified(facts: dict[str, Any]) -> str:
    from orchestrator.executor import HostOutcome
    from orchestrator.sipprobe import SipProbeResult
    from orchestrator.waves.results import classify

    out = HostOutcome("h", ok=5, facts={"version_before": "1", "version_after": "2", **facts})
    res = classify(out, pbx=True, target="2", address="10.0.0.1",
                   probe=lambda a: SipProbeResult(a, 5060, 200, "OK", "LabPBX 2", "2"))
    return res.summary


def test_the_host_result_says_how_many_registered_again() -> None:
    summary = _classified({"registered_before": {"201": 5, "202": 6},
                           "registered_after": ["201", "202"]})
    assert summary.endswith("; 2 of 2 registered endpoints registered again")
    assert "registered" not in _classified({"registered_before": {}})
    assert "registered" not in _classified({})
