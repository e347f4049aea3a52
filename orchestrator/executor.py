"""The ONLY module that knows ansible-runner: run one playbook on a set of hosts, stream
its events, and return typed per-host outcomes (nornir-style: one host's failure is that
host's).

Roles publish results for pbxops with ``set_fact`` of ``<role>_out_<name>`` variables
(role-prefixed, as ansible-lint wants); they land in ``HostOutcome.facts[<name>]``. Each run gets its own private data dir under
``settings.runs_dir/<ident>`` with ansible-runner's artifacts (no secrets: tasks that
touch secrets are ``no_log``, and nothing secret is passed as extravars).

Execution nodes (``settings.execution_nodes``, used when the caller passes
``distribute=True``): the hosts are dealt round-robin to the nodes and each node runs its
share with ansible-runner's own remote-execution protocol, ``transmit`` here ->
``ansible-runner worker`` on the node (stdin/stdout through ``ssh``) -> ``process`` here,
the way AWX's receptor mesh does it. Events stream back into the same ``_Collector``; the
artifacts come back into ``runs_dir/<ident>/node-<node>/artifacts/run``. What the node
needs is shipped in the private data dir: the project (playbooks, roles, ansible.cfg), the
inventory, an ssh_config and the known_hosts files derived from ``settings.ssh_config``; the
ops key goes through ansible-runner's ``ssh_key`` (an ssh-agent on the node, never a file
here). Extravars named ``*_fetch_dir`` are controller directories: on a node, ``fetch``
writes into the worker's artifacts and the files are moved to that directory when they
come back. Before the hosts are dealt, every node is probed (ssh and its ansible-runner,
in parallel): a node that does not answer is left out of this run (failover: its share goes
to the others; ``RunResult.nodes_down`` says which and why), so a dead node never has to be
removed from the settings before a wave can resume. Only when no node answers does the run
fail without starting. A node that fails mid-run leaves its hosts without a result:
``ExecutionNodeError`` names the node and carries the result of the other nodes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner

from .errors import ConfigError, HostError
from .fsutil import lock_down
from .inventory import static_inventory
from .settings import Settings

Event = dict[str, Any]
EventHandler = Callable[[Event], None]

# Replaces ansible.cfg's ssh_args when an ssh_config is given, so it repeats them: without
# keepalives a host that drops off the network mid-task hangs its persistent connection
# (and the batch) until TCP gives up, minutes later.
SSH_MUX_ARGS = (
    "-o ControlMaster=auto -o ControlPersist=120s -o ServerAliveInterval=10"
    " -o ServerAliveCountMax=3"
)

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
    nodes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node -> its hosts
    nodes_down: dict[str, str] = field(default_factory=dict)  # node left out -> why

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
        with self.lock:  # one node thread at a time (a local run has only one)
            if kind in _OUTCOME_EVENTS and host:
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
        "role": data.get("role"),
        "task_path": data.get("task_path"),
        "changed": (data.get("res") or {}).get("changed"),
    }


log = logging.getLogger(__name__)
_FELL_BACK: set[str] = set()  # strategies already warned about


def strategy_env(strategy: str) -> dict[str, str]:
    """Environment for the requested strategy; Mitogen falls back to linear if absent."""
    if not strategy.startswith("mitogen"):
        return {"ANSIBLE_STRATEGY": strategy}
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        if strategy not in _FELL_BACK:
            _FELL_BACK.add(strategy)
            log.warning("strategy %s: Mitogen is not installed, running with linear", strategy)
        return {"ANSIBLE_STRATEGY": "linear", "PBXOPS_STRATEGY_FALLBACK": "mitogen not installed"}
    plugins = Path(spec.origin).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY": strategy, "ANSIBLE_STRATEGY_PLUGINS": str(plugins)}


def _strategy_vars(strategy: str) -> dict[str, int]:
    """Mitogen keeps its own ssh connections and ignores ssh_args: give it the same dead-host
    detection as ServerAliveInterval=10 (3 missed keepalives), else a host that vanishes
    mid-task holds the batch for minutes."""
    if not strategy.startswith("mitogen"):
        return {}
    return {"mitogen_ssh_keepalive_interval": 10, "mitogen_ssh_keepalive_count": 3}


def playbook_extravars(settings: Settings,
                       extravars: Mapping[str, Any] | None) -> dict[str, Any]:
    """What every run passes as extravars, locally or on a node: the strategy's own (the
    Mitogen keepalives), then the caller's."""
    return {**_strategy_vars(settings.strategy), **dict(extravars or {})}


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
        env["ANSIBLE_SSH_ARGS"] = f"-F {settings.ssh_config} {SSH_MUX_ARGS}"
        env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
    return env


# What ansible-playbook inherits from pbxops' own environment: the user's locale, home
# (ssh reads ~/.ssh), agent and Ansible's own settings. Nothing else: pbxops' environment
# holds secrets (PBXOPS_SECRET_KEY, a password in PBXOPS_LEDGER_URL) that the playbook never
# needs, and ansible-runner writes the child's whole environment to artifacts/run/command.
_INHERITED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
    "SSH_AUTH_SOCK", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONUNBUFFERED",
})
_INHERITED_PREFIXES = ("LC_", "ANSIBLE_", "MITOGEN_")


def child_env(env: Mapping[str, str], ours: set[str]) -> dict[str, str]:
    """The environment ansible-runner hands ansible-playbook: what pbxops (``ours``) and
    ansible-runner set for the run, plus only the allowed parts of pbxops' own environment
    (``_INHERITED``); ``PBXOPS_*`` pass only when the run sets them (``PBXOPS_BOOK``)."""
    own = os.environ
    out = {}
    for name, value in env.items():
        inherited = name not in ours and own.get(name) == value
        if not inherited or name in _INHERITED or name.startswith(_INHERITED_PREFIXES):
            out[name] = value
    return out


def _ensure_ansible_on_path() -> None:
    """ansible-runner looks ansible-playbook up on PATH: put this interpreter's environment
    (the venv, which need not be activated) first."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if (Path(bindir) / "ansible-playbook").exists() and bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path
    if shutil.which("ansible-playbook") is None:
        raise ConfigError("ansible-playbook is not installed (run: make setup)")


SHIM_DIR = Path(__file__).resolve().parent / "shim"
SHIM = "ansible-playbook"  # what ansible-runner starts: shim/ansible-playbook execs the real one


def _shim_args(playbook: str, cmdline: str | None) -> dict[str, str]:
    """ansible-runner arguments that start ``playbook`` through pbxops' shim (see
    shim/ansible-playbook: a run whose controller is killed goes on to its end instead of
    hanging). With ``binary`` set, ansible-runner leaves the playbook to the command line."""
    return {"cmdline": " ".join(filter(None, [cmdline, shlex.quote(playbook)]))}


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
    distribute: bool = False,
) -> RunResult:
    """Run ``playbooks/<playbook>`` on ``hosts`` (a limit within ``inventory``, Ansible's
    JSON inventory). Never raises for host failures: read them from the result.

    ``distribute``: run on ``settings.execution_nodes`` when there are any (only for
    playbooks that read nothing from the controller but ``*_fetch_dir`` extravars); raises
    ``ExecutionNodeError`` when a node fails."""
    path = settings.project_dir / "playbooks" / playbook
    if not path.is_file():
        raise ConfigError(f"playbook not found: {path}")
    ident = ident or new_ident(Path(playbook).stem)
    static = static_inventory(dict(inventory)) if "_meta" in inventory else dict(inventory)
    collector = _Collector(hosts, on_event)
    cmdline = "--check --diff" if check else None
    variables = playbook_extravars(settings, extravars)
    if distribute and settings.execution_nodes and hosts:
        nodes = NodeJob(settings, playbook, static, variables, ident, cmdline, forks)
        return nodes.run(list(hosts), collector, cancel)
    private = settings.runs_dir / ident
    (private / "inventory").mkdir(parents=True, exist_ok=True)
    inv_file = private / "inventory" / "hosts.json"
    inv_file.write_text(json.dumps(static))
    (settings.state_dir / "ansible-tmp").mkdir(parents=True, exist_ok=True)
    _ensure_ansible_on_path()
    nforks = forks or max(1, min(settings.forks, len(hosts) or 1))
    envvars = _envvars(settings, nforks)
    runner = ansible_runner.interface.init_runner(
        private_data_dir=str(private),
        project_dir=str(settings.project_dir),
        playbook=str(path),
        inventory=str(inv_file),
        limit=",".join(hosts) if hosts else None,
        extravars=variables,
        envvars=envvars,
        forks=nforks,
        binary=str(SHIM_DIR / SHIM),
        **_shim_args(str(path), cmdline),
        ident="run",
        quiet=True,
        event_handler=collector,
        # never None: ansible-runner would then take SIGINT/SIGTERM over for the rest of
        # the process (its own handlers, never restored), and Ctrl-C would stop raising
        # KeyboardInterrupt in pbxops after its first playbook
        cancel_callback=cancel or _never,
        suppress_env_files=True,
        rotate_artifacts=0,
    )
    runner.config.env = child_env(runner.config.env, set(envvars))
    runner.run()
    _strip_env(private)
    lock_down_outputs(settings, private, variables)
    artifact = Path(runner.config.artifact_dir)
    return RunResult(ident, str(runner.status), int(runner.rc or 0), collector.hosts, artifact)


def lock_down_outputs(settings: Settings, run_dir: Path, extravars: Mapping[str, Any]) -> None:
    """What a run left under the state dir is the user's alone: its artifacts and the files
    fetched into ``*_fetch_dir`` directories (Ansible's fetch keeps the host's modes)."""
    state = settings.state_dir
    lock_down(run_dir, stop=state)
    for name, value in extravars.items():
        if name.endswith(_FETCH_SUFFIX) and value and Path(str(value)).is_relative_to(state):
            lock_down(Path(str(value)), stop=state)


def _strip_env(private: Path) -> None:
    """ansible-runner keeps the inputs under env/; drop them so nothing sensitive lingers."""
    shutil.rmtree(private / "env", ignore_errors=True)
    (private / "inventory" / "hosts.json").unlink(missing_ok=True)


NODE_WORK_DIR = "/tmp"  # where a node's worker unpacks the private data dir (deleted after)
_NODE_DIR_PREFIX = "pbxops-"
_NODE_PID_FILE = "pbxops.pids"  # in the run's dir on the node, written by the shim
_NODE_RUNS = Path(__file__).resolve().with_name("node_runs.py")  # run there by python3 -c
_NODE_OK = ("successful", "failed")  # the playbook ran to its end (hosts may have failed)
_FETCH_SUFFIX = "_fetch_dir"


class ExecutionNodeError(HostError):
    """Execution nodes failed during a run: their hosts have no result (they were in flight).
    ``result`` holds what the other nodes reported; ``failures`` maps node -> reason."""

    def __init__(self, failures: dict[str, str], lost: dict[str, tuple[str, ...]],
                 result: RunResult) -> None:
        self.failures, self.lost, self.result = failures, lost, result
        super().__init__("; ".join(
            f"execution node {node} failed: {reason} (no result for {', '.join(lost[node])})"
            for node, reason in failures.items()
        ))

    @property
    def lost_hosts(self) -> list[str]:
        return [h for hosts in self.lost.values() for h in hosts]


def split_hosts(hosts: Sequence[str], nodes: Sequence[str]) -> dict[str, list[str]]:
    """Deal ``hosts`` to ``nodes`` round-robin, in order (shares differ by at most one);
    nodes left without a host are left out."""
    if not nodes:
        raise ConfigError("no execution nodes configured")
    shares: dict[str, list[str]] = {node: [] for node in nodes}
    for i, host in enumerate(dict.fromkeys(hosts)):
        shares[nodes[i % len(nodes)]].append(host)
    return {node: share for node, share in shares.items() if share}


def node_slug(node: str) -> str:
    """A file-name-safe form of an ssh destination (``ops@node-1:22`` -> ``ops-node-1-22``)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", node).strip("-.") or "node"


@dataclass(frozen=True)
class NodeSsh:
    """What a node needs to reach the targets like the controller does: an ssh_config
    (paths rewritten into the shipped dir), the known_hosts files it names, and the
    identity files it named (their key goes to the node's ssh-agent, not into a file)."""

    config: str
    known_hosts: tuple[Path, ...]
    identities: tuple[Path, ...]


_SSH_KEYWORD = re.compile(r"^(\s*)([A-Za-z]+)(\s*=\s*|\s+)(.*)$")


def node_ssh_config(text: str, ssh_dir: str) -> NodeSsh:
    """Rewrite the controller's ssh_config for a node whose shipped files are in
    ``ssh_dir``: known-hosts files become ``ssh_dir/known_hosts-N``, identity files are
    dropped (the node's ssh-agent holds the key) and ``IdentitiesOnly`` with them."""
    lines: list[str] = []
    known: list[Path] = []
    identities: list[Path] = []
    for line in text.splitlines():
        m = _SSH_KEYWORD.match(line)
        key = m.group(2).lower() if m else ""
        if key == "include":
            raise ConfigError("an ssh_config with Include cannot be shipped to execution nodes")
        if m and key == "identityfile":
            identities.append(Path(m.group(4).strip().strip('"')).expanduser())
            continue
        if m and key == "identitiesonly":
            continue
        if m and key in ("userknownhostsfile", "globalknownhostsfile"):
            names = []
            for name in shlex.split(m.group(4)):
                if name.lower() in ("/dev/null", "none"):
                    names.append(name)
                    continue
                known.append(Path(name).expanduser())
                names.append(f"{ssh_dir}/known_hosts-{len(known) - 1}")
            line = f"{m.group(1)}{m.group(2)} {' '.join(names)}"
        lines.append(line)
    return NodeSsh("\n".join(lines) + "\n", tuple(known), tuple(identities))


def node_ssh_argv(settings: Settings, node: str, command: str) -> list[str]:
    """``ssh`` to an execution node with the controller's ssh_config; no tty, so the
    stream stays binary-clean, and timeouts/keepalives so a vanished node is noticed."""
    argv = ["ssh"]
    if settings.ssh_config is not None:
        argv += ["-F", str(settings.ssh_config)]
    return [*argv, "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", node, command]


NODE_PROBE_TIMEOUT = 30.0  # seconds for ssh + `ansible-runner --version` on a node


def probe_nodes(settings: Settings, nodes: Sequence[str]) -> dict[str, str]:
    """Nodes that cannot take a share now, each with the reason (ssh fails, or the node's
    ``execution_node_command`` does not run). All nodes are probed at once."""
    command = f"{settings.execution_node_command} --version"
    plugins = strategy_env(settings.strategy).get("ANSIBLE_STRATEGY_PLUGINS")
    if plugins:  # a node runs the controller's strategy from the same path
        plugin = shlex.quote(f"{plugins}/{settings.strategy}.py")
        command += (f" && {{ test -f {plugin} || {{ echo 'no Mitogen strategy plugin at "
                    f"{plugins} (install pbxops at the same path, or use strategy linear)' >&2;"
                    " exit 3; }; }")
    procs: dict[str, subprocess.Popen[str]] = {}
    down: dict[str, str] = {}
    for node in dict.fromkeys(nodes):
        argv = node_ssh_argv(settings, node, command)
        try:
            procs[node] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            down[node] = f"cannot start ssh: {exc}"
    deadline = time.monotonic() + NODE_PROBE_TIMEOUT
    for node, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            down[node] = f"no answer within {NODE_PROBE_TIMEOUT:.0f} s"
            continue
        if proc.returncode:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            why = lines[-1][:300] if lines else "no message"
            what = "ssh" if proc.returncode == 255 else "the node's ansible-runner check"
            down[node] = f"{what} failed (exit {proc.returncode}): {why}"
    return down


def _never() -> bool:
    return False


class _NodeRun:
    """One node's share: transmit -> ``ssh node ansible-runner worker`` -> process."""

    def __init__(self, node: str, hosts: list[str], private: Path, remote: str) -> None:
        self.node, self.hosts, self.private, self.remote = node, hosts, private, remote
        self.status = "unstarted"
        self.rc = 0
        self.explanation = ""
        self.canceled = False
        self.proc: subprocess.Popen[bytes] | None = None

    def _on_status(self, data: dict[str, Any], runner_config: Any = None) -> None:
        if data.get("job_explanation"):
            self.explanation = str(data["job_explanation"])

    def run(self, argv: list[str], kwargs: dict[str, Any], collector: _Collector) -> None:
        with tempfile.TemporaryFile() as stderr:
            try:
                self.proc = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
                )
            except OSError as exc:
                self.status, self.explanation = "error", f"cannot start ssh: {exc}"
                return
            assert self.proc.stdin is not None and self.proc.stdout is not None
            try:
                ansible_runner.run(
                    streamer="transmit", _output=self.proc.stdin,
                    private_data_dir=str(self.private), cancel_callback=_never, **kwargs,
                )
            except OSError:
                pass  # the node went away; process() below reports it
            finally:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            processor = ansible_runner.run(
                streamer="process", _input=self.proc.stdout, private_data_dir=str(self.private),
                ident="run", quiet=True, event_handler=collector,
                status_handler=self._on_status, cancel_callback=_never,
            )
            self.proc.stdout.close()
            ssh_rc = self.proc.wait()
            self.status = str(processor.status)
            stderr.seek(0)
            tail = [ln for ln in stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        rc_file = self.private / "artifacts" / "run" / "rc"
        rc_text = rc_file.read_text().strip() if rc_file.is_file() else ""
        self.rc = int(rc_text) if rc_text.lstrip("-").isdigit() else -1
        if self.status not in _NODE_OK:
            why = "canceled" if self.canceled else (self.explanation or self.status)
            if "Unexpected empty line" in why:
                why = "the worker's stream ended before the run finished"
            if ssh_rc:
                why += f" (ssh exit {ssh_rc}{': ' + tail[-1][:300] if tail else ''})"
            self.explanation = why

    def stop(self) -> None:
        self.canceled = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()


class NodeJob:
    """One playbook run spread over the execution nodes."""

    def __init__(self, settings: Settings, playbook: str, inventory: dict[str, Any],
                 extravars: dict[str, Any], ident: str, cmdline: str | None,
                 forks: int | None) -> None:
        self.settings, self.playbook, self.inventory = settings, playbook, inventory
        self.extravars, self.ident, self.cmdline, self.forks = extravars, ident, cmdline, forks
        self.top = settings.runs_dir / ident
        self.ssh = self._ssh()

    def _ssh(self) -> tuple[NodeSsh, str | None] | None:
        cfg = self.settings.ssh_config
        if cfg is None:
            return None  # the nodes use their own ssh configuration, keys and known_hosts
        if not Path(cfg).is_file():
            raise ConfigError(f"ssh_config not found: {cfg}")
        shape = node_ssh_config(Path(cfg).read_text(), "{ssh_dir}")
        for path in shape.known_hosts + shape.identities[:1]:
            if not path.is_file():
                raise ConfigError(f"{cfg} names {path}, which does not exist")
        key = shape.identities[0].read_text() if shape.identities else None
        return shape, key

    def run(self, hosts: list[str], collector: _Collector,
            cancel: Callable[[], bool] | None) -> RunResult:
        up, down = self._live_nodes(hosts, collector)
        shares = split_hosts(hosts, up)
        runs: list[_NodeRun] = []
        threads: list[threading.Thread] = []
        for node, share in shares.items():
            slug = node_slug(node)
            remote = f"{NODE_WORK_DIR}/{_NODE_DIR_PREFIX}{self.ident}-{slug}"
            run = _NodeRun(node, share, self.top / f"node-{slug}", remote)
            kwargs = self._prepare(run)
            command = (f"{self.settings.execution_node_command} worker "
                       f"--private-data-dir={shlex.quote(remote)} --delete")
            argv = node_ssh_argv(self.settings, node, command)
            runs.append(run)
            threads.append(threading.Thread(target=run.run, args=(argv, kwargs, collector),
                                            name=f"node-{slug}", daemon=True))
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
                    if cancel is not None and cancel():
                        for r in runs:
                            r.stop()
        except BaseException:
            for r in runs:
                r.stop()
            raise
        finally:
            for r in runs:
                self._cleanup(r)
        return self._result(runs, collector, down)

    def _live_nodes(self, hosts: list[str],
                    collector: _Collector) -> tuple[list[str], dict[str, str]]:
        """The nodes that answer now and the ones left out (with why); raises, starting
        nothing, when none answers."""
        nodes = list(dict.fromkeys(self.settings.execution_nodes))
        down = probe_nodes(self.settings, nodes)
        if len(down) == len(nodes):
            lost = {n: tuple(s) for n, s in split_hosts(hosts, nodes).items()}
            result = RunResult(self.ident, "error", -1, collector.hosts, self.top,
                               nodes_down=down)
            raise ExecutionNodeError({n: f"not started: {down[n]}" for n in lost}, lost, result)
        return [n for n in nodes if n not in down], down

    def _prepare(self, run: _NodeRun) -> dict[str, Any]:
        private, remote = run.private, run.remote
        project = private / "project"
        shutil.rmtree(private, ignore_errors=True)
        project.mkdir(parents=True)
        src = self.settings.project_dir
        shutil.copytree(src / "playbooks", project / "playbooks")
        shutil.copytree(src / "roles", project / "roles")
        shutil.copy2(src / "ansible.cfg", project / "ansible.cfg")
        shutil.copytree(SHIM_DIR, project / "shim")
        (private / "inventory").mkdir()
        (private / "inventory" / "hosts.json").write_text(json.dumps(self.inventory))
        nforks = self.forks or max(1, min(self.settings.forks, len(run.hosts)))
        env = {
            "ANSIBLE_CONFIG": f"{remote}/project/ansible.cfg",
            "ANSIBLE_ROLES_PATH": f"{remote}/project/roles",
            "ANSIBLE_FORKS": str(nforks),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
            "ANSIBLE_LOCAL_TEMP": f"{remote}/tmp",
            "PBXOPS_PID_FILE": f"{remote}/{_NODE_PID_FILE}",  # see node_runs.py
            **strategy_env(self.settings.strategy),
        }
        kwargs: dict[str, Any] = {}
        if self.ssh is not None:
            shape, key = self.ssh
            ssh_dir = private / "ssh"
            ssh_dir.mkdir()
            (ssh_dir / "config").write_text(shape.config.replace("{ssh_dir}", f"{remote}/ssh"))
            for i, path in enumerate(shape.known_hosts):
                shutil.copyfile(path, ssh_dir / f"known_hosts-{i}")
            env["ANSIBLE_SSH_ARGS"] = f"-F {remote}/ssh/config {SSH_MUX_ARGS}"
            env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
            if key:
                kwargs["ssh_key"] = key
        extravars = dict(self.extravars)
        for name, value in self.extravars.items():
            if name.endswith(_FETCH_SUFFIX) and value:
                extravars[name] = f"{remote}/artifacts/run/fetched/{name}"
        kwargs.update(
            playbook=str(project / "playbooks" / self.playbook),
            binary=f"{remote}/project/shim/{SHIM}",
            **_shim_args(f"playbooks/{self.playbook}", self.cmdline),  # cwd: the project
            inventory=str(private / "inventory" / "hosts.json"),
            limit=",".join(run.hosts),
            extravars=extravars,
            envvars=env,
            forks=nforks,
            ident="run",
            suppress_env_files=True,
        )
        return kwargs

    def _cleanup(self, run: _NodeRun) -> None:
        """Move fetched files to their controller directories; drop the shipped inputs."""
        fetched = run.private / "artifacts" / "run" / "fetched"
        for name, value in self.extravars.items():
            src = fetched / name
            if name.endswith(_FETCH_SUFFIX) and value and src.is_dir():
                shutil.copytree(src, Path(str(value)), dirs_exist_ok=True)
        shutil.rmtree(fetched, ignore_errors=True)
        for name in ("project", "ssh", "inventory", "env"):
            shutil.rmtree(run.private / name, ignore_errors=True)
        lock_down_outputs(self.settings, run.private, self.extravars)

    def _result(self, runs: list[_NodeRun], collector: _Collector,
                down: dict[str, str]) -> RunResult:
        failed = {r.node: r.explanation for r in runs if r.status not in _NODE_OK}
        statuses = {r.status for r in runs}
        status = "error" if failed else ("failed" if "failed" in statuses else "successful")
        result = RunResult(
            self.ident, status, max((r.rc for r in runs), default=0), collector.hosts,
            self.top, {r.node: tuple(r.hosts) for r in runs}, down,
        )
        if failed:
            lost = {r.node: tuple(r.hosts) for r in runs if r.node in failed}
            raise ExecutionNodeError(failed, lost, result)
        return result


def _node_runs_command(settings: Settings, action: str, ident_prefix: str) -> str:
    """The shell command that runs node_runs.py's ``action`` (list | clear) on a node for
    the runs whose ident starts with ``ident_prefix``, under the same wrapper as the worker
    (the words of ``execution_node_command`` before the runner, e.g. ``sudo -n``): the
    runs' directories and pid files are the worker's."""
    wrap = [shlex.quote(w) for w in shlex.split(settings.execution_node_command)[:-1]]
    args = ["python3", "-c", _NODE_RUNS.read_text(), action, NODE_WORK_DIR,
            f"{_NODE_DIR_PREFIX}{ident_prefix}"]
    return " ".join([*wrap, *map(shlex.quote, args)])


def orphaned_node_runs(settings: Settings, ident_prefix: str) -> list[str]:
    """``node:pid`` of ansible-playbook processes still running on execution nodes for runs
    whose ident starts with ``ident_prefix`` (its worker or controller died), by the pids
    the runs recorded on the node (node_runs.py). Only these can still touch a host; what
    else a dead worker left is removed by ``clear_node_leftovers``. A node that cannot be
    reached has nothing running that could still touch a host through it."""
    found: list[str] = []
    for node in settings.execution_nodes:
        argv = node_ssh_argv(settings, node, _node_runs_command(settings, "list", ident_prefix))
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            found += [f"{node}:{pid}" for pid in out.stdout.split()]
        elif out.returncode != 255:  # 255: ssh could not reach the node
            why = (out.stderr.strip().splitlines() or ["no message"])[-1][:300]
            log.warning("execution node %s: cannot list the runs' processes (exit %d): %s",
                        node, out.returncode, why)
    return found


def clear_node_leftovers(settings: Settings, ident_prefix: str) -> None:
    """Once no ansible-playbook of them runs (``orphaned_node_runs``): stop what runs whose
    ident starts with ``ident_prefix`` left on the nodes, by the pids they recorded there
    (a pid now another process's is left alone), release an ssh-add a worker killed before
    it handed over the ssh key left waiting, and delete the runs' directories (a killed
    worker never deletes its own); see node_runs.py. Unreachable nodes are skipped; the
    next resume clears them."""
    script = _node_runs_command(settings, "clear", ident_prefix)
    procs = [subprocess.Popen(node_ssh_argv(settings, node, script), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for node in settings.execution_nodes]
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
