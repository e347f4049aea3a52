"""The ONLY module that knows ansible-runner: run one playbook on a set of hosts, stream
its events, and return typed per-host outcomes (nornir-style: one host's failure is that
host's).

Roles publish results for pbxops with ``set_fact`` of ``<role>_out_<name>`` variables
(role-prefixed, as ansible-lint wants); they land in ``HostOutcome.facts[<name>]``. Each run gets its own private data dir under
``settings.runs_dir/<ident>`` with ansible-runner's artifacts (no secrets: tasks that
touch secrets are ``no_log``, and nothing secret is passed as extravars).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner

from .errors import ConfigError
from .inventory import static_inventory
from .settings import Settings

Event = dict[str, Any]
EventHandler = Callable[[Event], None]

_OUTCOME_EVENTS = {"runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"}


@dataclass
class HostOutcome:
    """What happened on one host in one playbook run."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: bool = False
    unreachable: bool = False
    skipped: int = 0
    error: str | None = None
    failed_task: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return not (self.failed or self.unreachable)


@dataclass(frozen=True)
class RunResult:
    ident: str
    status: str  # successful | failed | canceled | timeout
    rc: int
    hosts: dict[str, HostOutcome]
    artifact_dir: Path

    @property
    def failed_hosts(self) -> list[str]:
        return [h for h, o in self.hosts.items() if not o.succeeded]


class _Collector:
    """Aggregates ansible-runner events into HostOutcomes as they stream in."""

    def __init__(self, hosts: Sequence[str], forward: EventHandler | None) -> None:
        self.hosts = {h: HostOutcome(h) for h in hosts}
        self.forward = forward
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host")
        if kind in _OUTCOME_EVENTS and host:
            with self.lock:
                self._apply(kind, host, data)
        if self.forward is not None:
            self.forward(_slim(event))
        return True  # keep ansible-runner's own artifact of the event

    def _apply(self, kind: str, host: str, data: dict[str, Any]) -> None:
        out = self.hosts.setdefault(host, HostOutcome(host))
        res = data.get("res") or {}
        if kind == "runner_on_ok":
            out.ok += 1
            out.changed += bool(res.get("changed"))
            facts = res.get("ansible_facts") or {}
            out.facts.update({k.split("_out_", 1)[1]: v for k, v in facts.items() if "_out_" in k})
        elif kind == "runner_on_skipped":
            out.skipped += 1
        elif kind == "runner_on_unreachable":
            out.unreachable = True
            out.error = _message(res) or "host unreachable"
            out.failed_task = data.get("task")
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            out.failed = True
            out.error = _message(res)
            out.failed_task = data.get("task")


def _message(res: Mapping[str, Any]) -> str:
    if res.get("censored"):
        return "a task with hidden output (no_log) failed"
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
    text = str(msg).strip().splitlines()
    return text[-1][:500] if text else "task failed"


def _slim(event: Event) -> Event:
    """The part of an event a progress display needs (no task results)."""
    data = event.get("event_data", {})
    return {
        "event": event.get("event"),
        "host": data.get("host"),
        "task": data.get("task"),
        "play": data.get("play"),
        "changed": (data.get("res") or {}).get("changed"),
    }


def strategy_env(strategy: str) -> dict[str, str]:
    """Environment for the requested strategy; Mitogen falls back to linear if absent."""
    if not strategy.startswith("mitogen"):
        return {"ANSIBLE_STRATEGY": strategy}
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        return {"ANSIBLE_STRATEGY": "linear", "PBXOPS_STRATEGY_FALLBACK": "mitogen not installed"}
    plugins = Path(spec.origin).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY": strategy, "ANSIBLE_STRATEGY_PLUGINS": str(plugins)}


def _envvars(settings: Settings, forks: int) -> dict[str, str]:
    project = settings.project_dir
    env = {
        "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(project / "roles"),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_LOCAL_TEMP": str(settings.state_dir / "ansible-tmp"),
        "PBXOPS_BOOK": str(settings.book),
    }
    env.update(strategy_env(settings.strategy))
    if settings.ssh_config is not None:
        if not Path(settings.ssh_config).is_file():
            raise ConfigError(f"ssh_config not found: {settings.ssh_config}")
        env["ANSIBLE_SSH_ARGS"] = (
            f"-F {settings.ssh_config} -o ControlMaster=auto -o ControlPersist=120s"
        )
        env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
    return env


def _ensure_ansible_on_path() -> None:
    """ansible-runner looks ansible-playbook up on PATH: put this interpreter's environment
    (the venv, which need not be activated) first."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if (Path(bindir) / "ansible-playbook").exists() and bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path
    if shutil.which("ansible-playbook") is None:
        raise ConfigError("ansible-playbook is not installed (run: make setup)")


def new_ident(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"


def run_playbook(
    settings: Settings,
    playbook: str,
    inventory: Mapping[str, Any],
    hosts: Sequence[str],
    *,
    extravars: Mapping[str, Any] | None = None,
    ident: str | None = None,
    on_event: EventHandler | None = None,
    check: bool = False,
    forks: int | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RunResult:
    """Run ``playbooks/<playbook>`` on ``hosts`` (a limit within ``inventory``, Ansible's
    JSON inventory). Never raises for host failures: read them from the result."""
    path = settings.project_dir / "playbooks" / playbook
    if not path.is_file():
        raise ConfigError(f"playbook not found: {path}")
    ident = ident or new_ident(Path(playbook).stem)
    private = settings.runs_dir / ident
    (private / "inventory").mkdir(parents=True, exist_ok=True)
    inv_file = private / "inventory" / "hosts.json"
    static = static_inventory(dict(inventory)) if "_meta" in inventory else dict(inventory)
    inv_file.write_text(json.dumps(static))
    (settings.state_dir / "ansible-tmp").mkdir(parents=True, exist_ok=True)
    _ensure_ansible_on_path()
    collector = _Collector(hosts, on_event)
    nforks = forks or max(1, min(settings.forks, len(hosts) or 1))
    cmdline = "--check --diff" if check else None
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(settings.project_dir),
        playbook=str(path),
        inventory=str(inv_file),
        limit=",".join(hosts) if hosts else None,
        extravars=dict(extravars or {}),
        envvars=_envvars(settings, nforks),
        forks=nforks,
        cmdline=cmdline,
        ident="run",
        quiet=True,
        event_handler=collector,
        cancel_callback=cancel,
        suppress_env_files=True,
        rotate_artifacts=0,
    )
    _strip_env(private)
    artifact = Path(runner.config.artifact_dir)
    return RunResult(ident, str(runner.status), int(runner.rc or 0), collector.hosts, artifact)


def _strip_env(private: Path) -> None:
    """ansible-runner keeps the inputs under env/; drop them so nothing sensitive lingers."""
    shutil.rmtree(private / "env", ignore_errors=True)
    (private / "inventory" / "hosts.json").unlink(missing_ok=True)


def orphaned_runs(settings: Settings, ident_prefix: str) -> list[int]:
    """Pids of ansible-playbook processes still running from earlier runs whose ident starts
    with ``ident_prefix`` (found by their private data dir on the command line). A controller
    killed with -9 leaves them behind: ansible-runner starts them in their own session."""
    marker = str(settings.runs_dir / ident_prefix)
    pids: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(marker.encode() in a for a in argv) and any(b"ansible-playbook" in a for a in argv[:2]):
            pids.append(int(proc.name))
    return pids
