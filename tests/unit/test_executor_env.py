"""Issue 15, finding 6(a): ansible-runner writes the environment of every run into
``artifacts/run/command``. pbxops' own secrets (the Fernet key, a ledger password) must not
be in it, nor anywhere else under the run's directory: the playbook gets only the
environment it needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.executor import child_env, run_playbook
from orchestrator.settings import Settings

KEY_MARKER = "SECRETKEYMARKER-7f3a9c"
PASSWORD_MARKER = "LEDGERPASSWORDMARKER-51e2"

PLAY = """\
- name: Say hello on the controller
  hosts: all
  gather_facts: false
  tasks:
    - name: Echo a word
      ansible.builtin.command: echo hello
      changed_when: false
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    (project / "roles").mkdir()
    (project / "playbooks" / "hello.yml").write_text(PLAY)
    (project / "ansible.cfg").write_text("[defaults]\nhost_key_checking = False\n")
    return project


def _files_containing(top: Path, *needles: str) -> list[str]:
    hits = []
    for path in top.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.relative_to(top)}: {n}" for n in needles if n.encode() in data]
    return hits


def test_a_run_directory_holds_no_secret_from_pbxops_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PBXOPS_SECRET_KEY", KEY_MARKER)
    monkeypatch.setenv(
        "PBXOPS_LEDGER_URL", f"postgresql+psycopg2://pbxops:{PASSWORD_MARKER}@db/pbxops"
    )
    monkeypatch.setenv("SOME_TOKEN", KEY_MARKER)
    settings = Settings(
        state_dir=tmp_path / "state", project_dir=_project(tmp_path), strategy="linear"
    )
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}
    result = run_playbook(settings, "hello.yml", inventory, ["localhost"], ident="hello")
    assert result.status == "successful", result
    run_dir = settings.runs_dir / "hello"
    assert (run_dir / "artifacts" / "run" / "command").is_file()
    assert _files_containing(run_dir, KEY_MARKER, PASSWORD_MARKER) == []


def test_the_child_keeps_what_ansible_needs_and_what_the_run_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PBXOPS_SECRET_KEY", KEY_MARKER)
    monkeypatch.setenv("PBXOPS_BOOK", "/books/demo")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = {**os.environ, "ANSIBLE_FORKS": "3", "AWX_ISOLATED_DATA_DIR": "/x"}
    env["PBXOPS_BOOK"] = "/books/demo"  # the run sets the same value itself
    kept = child_env(env, {"ANSIBLE_FORKS", "PBXOPS_BOOK"})
    assert "PBXOPS_SECRET_KEY" not in kept
    assert kept["PBXOPS_BOOK"] == "/books/demo"
    assert kept["ANSIBLE_FORKS"] == "3" and kept["AWX_ISOLATED_DATA_DIR"] == "/x"
    assert kept["PATH"] == os.environ["PATH"] and kept["LC_ALL"] == "C.UTF-8"
