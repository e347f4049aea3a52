"""Execution nodes without the lab: host splitting, settings, the ssh_config a node gets, and
the real transmit -> worker -> process pipeline with a local shell standing in for ssh."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator import executor
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings, load_settings

VENV_BIN = Path(sys.executable).parent


def test_hosts_are_dealt_round_robin_and_idle_nodes_are_left_out() -> None:
    assert executor.split_hosts(["a", "b", "c", "d", "e"], ["n1", "n2"]) == {
        "n1": ["a", "c", "e"], "n2": ["b", "d"]}
    assert executor.split_hosts(["a"], ["n1", "n2", "n3"]) == {"n1": ["a"]}
    assert executor.split_hosts(["a", "a", "b"], ["n1", "n2"]) == {"n1": ["a"], "n2": ["b"]}
    shares = executor.split_hosts([f"h{i}" for i in range(10)], ["n1", "n2", "n3"])
    assert sorted(len(s) for s in shares.values()) == [3, 3, 4]
    with pytest.raises(ConfigError):
        executor.split_hosts(["a"], [])


def test_node_slug_is_file_name_safe() -> None:
    assert executor.node_slug("ops@node-1.example:22") == "ops-node-1.example-22"
    assert executor.node_slug("node-2") == "node-2"


def test_settings_read_nodes_from_env_and_file(tmp_path: Path) -> None:
    s = load_settings(env={"PBXOPS_EXECUTION_NODES": "node-1, ops@node-2"}, config=None)
    assert s.execution_nodes == ("node-1", "ops@node-2")
    assert load_settings(env={}).execution_nodes == ()
    cfg = tmp_path / "pbxops.yml"
    cfg.write_text("execution-nodes: [node-a, node-b]\nexecution_node_command: /opt/ar/bin/ansible-runner\n")
    s = load_settings(env={}, config=str(cfg))
    assert s.execution_nodes == ("node-a", "node-b")
    assert s.execution_node_command == "/opt/ar/bin/ansible-runner"
    assert load_settings(args={"execution_nodes": "x"}, env={"PBXOPS_EXECUTION_NODES": "y"}).execution_nodes == ("x",)


@pytest.mark.parametrize("value", ["n1,n1", "-oProxyCommand=x"])
def test_bad_node_lists_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="execution_nodes"):
        load_settings(env={"PBXOPS_EXECUTION_NODES": value})


def test_node_ssh_config_ships_known_hosts_and_keeps_keys_out() -> None:
    text = (
        "Host lab-01\n    HostName 10.0.0.1\n"
        "Host *\n    User pbxops\n    IdentityFile /run/lab/ssh/id_ed25519\n    IdentitiesOnly yes\n"
        "    UserKnownHostsFile /run/lab/ssh/known_hosts ~/.ssh/known_hosts\n"
        "    GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n"
    )
    shape = executor.node_ssh_config(text, "/tmp/x/ssh")
    assert shape.identities == (Path("/run/lab/ssh/id_ed25519"),)
    assert shape.known_hosts == (Path("/run/lab/ssh/known_hosts"), Path("~/.ssh/known_hosts").expanduser())
    assert "IdentityFile" not in shape.config and "IdentitiesOnly" not in shape.config
    assert "    UserKnownHostsFile /tmp/x/ssh/known_hosts-0 /tmp/x/ssh/known_hosts-1\n" in shape.config
    assert "GlobalKnownHostsFile /dev/null" in shape.config and "HostName 10.0.0.1" in shape.config
    with pytest.raises(ConfigError, match="Include"):
        executor.node_ssh_config("Include other.conf\n", "/tmp/x")


PLAY = """\
- name: Probe
  hosts: all
  gather_facts: false
  tasks:
    - name: Publish where the play ran
      ansible.builtin.set_fact:
        probe_out_pid: "{{ lookup('pipe', 'echo $PPID') }}"
    - name: Fetch a file to the controller
      ansible.builtin.fetch:
        src: /etc/hostname
        dest: "{{ probe_fetch_dir }}/{{ inventory_hostname }}/hostname"
        flat: true
    - name: Fail one host
      ansible.builtin.fail:
        msg: boom
      when: inventory_hostname == 'h3'
"""


@pytest.fixture()
def local_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Two "nodes" that are this machine: ``sh -c`` instead of ``ssh node``."""
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    (project / "roles").mkdir()
    (project / "playbooks" / "probe.yml").write_text(PLAY)
    (project / "ansible.cfg").write_text("[defaults]\ngathering = explicit\n")
    monkeypatch.setattr(executor, "node_ssh_argv", lambda _s, _node, command: ["sh", "-c", command])
    return load_settings(env={}, args={
        "project_dir": str(project), "state_dir": str(tmp_path / "state"),
        "execution_nodes": "n1,n2",
        "execution_node_command": f"env PATH={VENV_BIN}:/usr/bin:/bin {VENV_BIN}/ansible-runner",
    })


INVENTORY: dict[str, Any] = {"all": {"hosts": {
    f"h{i}": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    for i in range(1, 5)}}}


def test_pipeline_streams_events_facts_and_fetched_files_back(local_nodes: Settings, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    fetch = tmp_path / "fetched"
    result = executor.run_playbook(local_nodes, "probe.yml", INVENTORY, ["h1", "h2", "h3", "h4"],
                                   extravars={"probe_fetch_dir": str(fetch)}, on_event=events.append,
                                   distribute=True)
    assert result.nodes == {"n1": ("h1", "h3"), "n2": ("h2", "h4")}
    assert result.status == "failed" and result.failed_hosts == ["h3"]
    assert result.hosts["h3"].error == "boom"
    assert all(result.hosts[h].facts["pid"] for h in ("h1", "h2", "h4"))
    assert {e["host"] for e in events if e["event"] == "runner_on_ok"} == {"h1", "h2", "h3", "h4"}
    assert sorted(p.parent.name for p in fetch.glob("*/hostname")) == ["h1", "h2", "h3", "h4"]
    for node in ("n1", "n2"):
        private = result.artifact_dir / f"node-{node}"
        assert list((private / "artifacts" / "run" / "job_events").glob("*.json"))
        assert sorted(p.name for p in private.iterdir()) == ["artifacts"], "shipped inputs are removed"
        assert not (private / "artifacts" / "run" / "fetched").exists()


PIDS_PLAY = """\
- name: Pids
  hosts: all
  gather_facts: false
  tasks:
    - name: Publish the run's pid file with the command lines of its processes
      ansible.builtin.set_fact:
        probe_out_pids: "{{ lookup('pipe', 'sh ' + playbook_dir + '/pids.sh') }}"
"""
PIDS_SH = """\
run_dir=$(dirname "$(dirname "$(dirname "$0")")")
while read -r role pid start; do
  printf '%s %s %s\\n' "$role" "$pid" "$(tr '\\0' ' ' < /proc/$pid/cmdline)"
done < "$run_dir/pbxops.pids"
"""


def test_a_node_run_records_its_playbook_worker_and_wrapper_pids(local_nodes: Settings) -> None:
    """The real transmit -> worker -> process pipeline: while the play runs, the run's
    directory on the node holds the pids of its ansible-playbook and of the ansible-runner
    worker above it, each naming the run's directory (what node_runs.py finds them by)."""
    playbooks = local_nodes.project_dir / "playbooks"
    (playbooks / "pids.yml").write_text(PIDS_PLAY)
    (playbooks / "pids.sh").write_text(PIDS_SH)
    result = executor.run_playbook(local_nodes, "pids.yml", INVENTORY, ["h1"], distribute=True)
    assert result.status == "successful", result
    lines = result.hosts["h1"].facts["pids"].splitlines()
    roles = [line.split()[0] for line in lines]
    assert roles[0] == "playbook" and set(roles[1:]) == {"parent"} and len(roles) >= 2, lines
    assert "ansible-playbook" in lines[0] and "/tmp/pbxops-pids-" in lines[0], lines
    assert any(" worker --private-data-dir=/tmp/pbxops-pids-" in ln for ln in lines[1:]), lines


def test_a_failing_node_is_named_and_the_other_nodes_results_are_kept(
    local_nodes: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = local_nodes.model_copy(update={"execution_nodes": ("n1", "dead")})
    executor_argv = executor.node_ssh_argv

    def argv(s: Settings, node: str, command: str) -> list[str]:
        if node == "dead" and " worker " in command:  # answers the probe, dies in the run
            return ["sh", "-c", "echo 'ssh: connect to host dead port 22: No route to host' >&2; exit 255"]
        return executor_argv(s, node, command)

    monkeypatch.setattr(executor, "node_ssh_argv", argv)
    with pytest.raises(executor.ExecutionNodeError) as caught:
        executor.run_playbook(broken, "probe.yml", INVENTORY, ["h1", "h2"],
                              extravars={"probe_fetch_dir": ""}, distribute=True)
    err = caught.value
    assert err.lost == {"dead": ("h2",)} and err.lost_hosts == ["h2"]
    assert "execution node dead failed" in str(err) and "No route to host" in str(err)
    assert err.result.hosts["h1"].succeeded and err.result.hosts["h1"].ok
    assert not err.result.hosts["h2"].ok


def _down_node(monkeypatch: pytest.MonkeyPatch, *down: str) -> list[str]:
    """Nodes in ``down`` refuse every ssh (the probe too); returns the commands they were sent."""
    sent: list[str] = []
    executor_argv = executor.node_ssh_argv

    def argv(s: Settings, node: str, command: str) -> list[str]:
        if node in down:
            sent.append(command)
            return ["sh", "-c", f"echo 'ssh: connect to host {node} port 22: Connection refused' >&2; exit 255"]
        return executor_argv(s, node, command)

    monkeypatch.setattr(executor, "node_ssh_argv", argv)
    return sent


def test_a_node_that_does_not_answer_is_left_out_and_its_share_goes_to_the_others(
    local_nodes: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = local_nodes.model_copy(update={"execution_nodes": ("n1", "gone", "n2")})
    sent = _down_node(monkeypatch, "gone")
    result = executor.run_playbook(s, "probe.yml", INVENTORY, ["h1", "h2", "h4"],
                                   extravars={"probe_fetch_dir": ""}, distribute=True)
    assert result.status == "successful", result
    assert result.nodes == {"n1": ("h1", "h4"), "n2": ("h2",)}
    assert set(result.nodes_down) == {"gone"} and "Connection refused" in result.nodes_down["gone"]
    assert all(result.hosts[h].succeeded and result.hosts[h].ok for h in ("h1", "h2", "h4"))
    assert len(sent) == 1 and " worker " not in sent[0], "only probed, never sent a share"


def test_when_no_node_answers_nothing_starts_and_every_host_is_named(
    local_nodes: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _down_node(monkeypatch, "n1", "n2")
    with pytest.raises(executor.ExecutionNodeError) as caught:
        executor.run_playbook(local_nodes, "probe.yml", INVENTORY, ["h1", "h2", "h3"],
                              extravars={"probe_fetch_dir": ""}, distribute=True)
    err = caught.value
    assert sorted(err.lost_hosts) == ["h1", "h2", "h3"]
    assert "execution node n1 failed: not started: ssh failed (exit 255)" in str(err)
    assert set(err.result.nodes_down) == {"n1", "n2"}
    assert not any(o.ok for o in err.result.hosts.values())
    assert all(" worker " not in c for c in sent)


def test_a_node_without_the_mitogen_plugin_path_is_left_out_with_the_reason(
    local_nodes: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node runs the controller's strategy from the same path: a node whose install
    lacks it is reported, not handed a share that would fail on its first task."""
    plugins = executor.strategy_env("mitogen_linear").get("ANSIBLE_STRATEGY_PLUGINS")
    if plugins is None:
        pytest.skip("Mitogen is not installed here")
    s = local_nodes.model_copy(update={"strategy": "mitogen_linear"})
    real = executor.strategy_env
    monkeypatch.setattr(executor, "strategy_env", lambda strategy: {
        "ANSIBLE_STRATEGY": strategy, "ANSIBLE_STRATEGY_PLUGINS": "/nonexistent/strategy"
    } if strategy.startswith("mitogen") else real(strategy))
    down = executor.probe_nodes(s, ["n1"])
    assert "no Mitogen strategy plugin at /nonexistent/strategy" in down["n1"], down
    assert executor.probe_nodes(s.model_copy(update={"strategy": "linear"}), ["n1"]) == {}


def test_rollout_leaves_a_failed_nodes_hosts_running_for_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lab: the executor is replaced by one whose node-2 fails. The other node's host is
    recorded; node-2's host keeps its `running` row; the wave is interrupted with an error
    naming the node and the resume command."""
    import yaml

    from orchestrator import app
    from orchestrator.errors import HostError
    from orchestrator.ledger import waves as wl
    from orchestrator.planner import PlanOptions
    from orchestrator.waves import RunOptions

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "book" / "customers").mkdir(parents=True)
    systems = [{"hostname": f"m{i}-pbx", "site": "main", "address": f"127.0.0.{50 + i}",
                "platform": "asterisk", "pbx_profile": "labpbx", "deployment": "hardware", "os_release": "12",
                "licences": [{"kind": "user", "count": 5}], "extensions": 5,
                "maintenance_window": {"slots": ["mon-sun 00:00-24:00"]}} for i in (1, 2)]
    customer = {"id": "m", "name": "M", "timezone": "Europe/Berlin",
                "contacts": [{"email": "it@m.example"}],
                "sites": [{"id": "main", "subnet": "127.0.0.0/24"}], "systems": systems,
                "contracts": [{"id": "m-c", "kind": "software_maintenance", "start": "2020-01-01",
                               "end": "2030-12-31"}]}
    (tmp_path / "book" / "customers" / "m.yml").write_text(yaml.safe_dump(customer))
    (tmp_path / "book" / "releases.yml").write_text((repo / "inventory/demo/releases.yml").read_text())
    s = load_settings(env={}, args={
        "book": str(tmp_path / "book"), "state_dir": str(tmp_path / "state"),
        "ledger_url": f"sqlite:///{tmp_path}/l.sqlite", "smtp_port": 1,
        "execution_nodes": "node-1,node-2"})
    wave_id, _ = app.plan_wave(s, "pbx-18.1", options=PlanOptions(canary_size=0, batch_size=2))
    assert wave_id is not None
    calls: list[bool] = []

    def fake_run(settings: Settings, playbook: str, inventory: Any, hosts: Any, **kw: Any) -> Any:
        calls.append(kw.get("distribute", False))
        out = executor.HostOutcome("m1-pbx", ok=5, failed=True, error="boom", failed_task="Install")
        result = executor.RunResult("x", "error", 2, {"m1-pbx": out}, tmp_path,
                                    {"node-1": ("m1-pbx",), "node-2": ("m2-pbx",)})
        raise executor.ExecutionNodeError({"node-2": "the worker's stream ended"},
                                          {"node-2": ("m2-pbx",)}, result)

    monkeypatch.setattr(executor, "run_playbook", fake_run)
    with pytest.raises(HostError, match=rf"execution node node-2 failed.*wave resume {wave_id}"):
        app.run_wave(s, wave_id, RunOptions(call_poll_seconds=1))
    assert calls == [True], "the wave asked for distribution"
    ledger = app.open_ledger(s)
    rows = {r.hostname: r for r in wl.host_rows(ledger, wave_id)}
    assert rows["m1-pbx"].status == "failed" and "boom" in rows["m1-pbx"].error
    assert rows["m2-pbx"].status == "running"
    wave = wl.get_wave(ledger, wave_id)
    assert wave is not None and wave.status == "interrupted" and "node-2" in (wave.reason or "")


SHIM = executor.SHIM_DIR / executor.SHIM


def _fake_playbook_bin(tmp_path: Path) -> Path:
    """A directory with an ``ansible-playbook`` that only sleeps (what the shim execs)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ansible-playbook"
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    fake.chmod(0o755)
    return bindir


def _node_run(run_dir: Path, bindir: Path) -> subprocess.Popen[bytes]:
    """What a worker starts on a node, here: the shell ansible-runner wraps in ssh-agent
    (its command line names the run's key fifo), running pbxops' shim with the run's
    inventory, the shim recording the pids in the run's directory."""
    (run_dir / "artifacts" / "run").mkdir(parents=True)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
           "PBXOPS_PID_FILE": str(run_dir / "pbxops.pids")}
    return subprocess.Popen(
        ["sh", "-c", f'"{SHIM}" -i "{run_dir}/inventory/hosts.json"; sleep 60', "ssh-add",
         f"{run_dir}/artifacts/run/ssh_key_data"], env=env, start_new_session=True)


def _pid_lines(run_dir: Path) -> list[list[str]]:
    pid_file = run_dir / "pbxops.pids"
    assert eventually(lambda: pid_file.is_file() and len(pid_file.read_text().splitlines()) >= 2)
    return [line.split() for line in pid_file.read_text().splitlines()]


def eventually(check: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(procs: list[subprocess.Popen[bytes]], dirs: list[Path]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, by its pid
        proc.wait()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def test_the_shim_records_the_playbook_and_its_ancestors_naming_the_run(tmp_path: Path) -> None:
    """Real processes: the shim writes its own pid (the playbook's, kept across exec) and
    its parent shell's (the command line names the run's directory) with their start
    times, 0600; not pytest's (it does not name the run)."""
    run_dir = Path(executor.NODE_WORK_DIR) / f"pbxops-t{os.getpid()}shim-run-1-node-2"
    proc = _node_run(run_dir, _fake_playbook_bin(tmp_path))
    try:
        lines = _pid_lines(run_dir)
        assert [line[0] for line in lines] == ["playbook", "parent"], lines
        playbook, parent = int(lines[0][1]), int(lines[1][1])
        assert parent == proc.pid
        assert Path(f"/proc/{playbook}/stat").read_text().split(") ")[1].split()[1] == str(proc.pid)
        cmdline = Path(f"/proc/{playbook}/cmdline").read_bytes()
        assert b"ansible-playbook" in cmdline and str(SHIM).encode() not in cmdline, "exec'd"
        for _role, pid, start in lines:
            assert Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19] == start
        assert (run_dir / "pbxops.pids").stat().st_mode & 0o777 == 0o600
    finally:
        _stop([proc], [run_dir])


def test_a_shim_that_cannot_record_the_pids_does_not_start_the_playbook(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{_fake_playbook_bin(tmp_path)}:{os.environ['PATH']}",
           "PBXOPS_PID_FILE": str(tmp_path / "missing-dir" / "pbxops.pids")}
    done = subprocess.run([str(SHIM), "-i", "x"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1 and "cannot record the run's pids" in done.stderr, done


def _here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Node commands run here (``sh -c``) instead of over ssh; returns what was sent."""
    commands: list[str] = []

    def here(settings: Settings, node: str, command: str) -> list[str]:
        commands.append(command)
        return ["sh", "-c", command]

    monkeypatch.setattr(executor, "node_ssh_argv", here)
    return commands


def test_orphaned_node_runs_are_the_recorded_playbooks_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """orphaned_node_runs runs node_runs.py's ``list`` (as on a node) against real processes:
    the wave's recorded ansible-playbook is found; its recorded parent shell (the
    ssh-agent/ssh-add wrapper, which touches no host) and another wave's playbook
    (wave90 vs wave9) are not; nor is a recorded pid whose start time is not the process's
    (the pid was reused); no process is found by its name or command line."""
    tag = f"t{os.getpid()}wave9-"
    other = f"t{os.getpid()}wave90-"
    dirs = [Path(executor.NODE_WORK_DIR) / f"pbxops-{t}run-1-node-2" for t in (tag, other)]
    reused = Path(executor.NODE_WORK_DIR) / f"pbxops-{tag}run-2-node-2"
    bindir = _fake_playbook_bin(tmp_path)
    procs = [_node_run(d, bindir) for d in dirs]
    procs.append(_node_run(reused, bindir))
    commands = _here(monkeypatch)
    try:
        lines = [_pid_lines(d) for d in (*dirs, reused)]
        (reused / "pbxops.pids").write_text("".join(
            f"{role} {pid} {int(start) + 1}\n" for role, pid, start in lines[2]))
        settings = load_settings(args={"execution_nodes": ["node-2"]})
        found = executor.orphaned_node_runs(settings, tag)
        assert found == [f"node-2:{lines[0][0][1]}"], (found, lines)
        assert "pgrep" not in commands[0] and "pkill" not in commands[0]
    finally:
        _stop(procs, [*dirs, reused])


def test_clearing_node_leftovers_stops_the_recorded_processes_and_removes_the_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """clear_node_leftovers' node_runs.py ``clear``, run here instead of over ssh: the
    wave's recorded processes are killed (-9) and its directories removed; another wave's
    (wave90 vs wave9) stay; a recorded pid whose start time is no longer the process's is
    not killed (its pid was reused); the shell running the script is not among what it
    kills (it would stop before removing the directories)."""
    tag = f"t{os.getpid()}wave9-"
    other = f"t{os.getpid()}wave90-"
    dirs = [Path(executor.NODE_WORK_DIR) / f"pbxops-{t}run-1-node-2" for t in (tag, other)]
    reused = Path(executor.NODE_WORK_DIR) / f"pbxops-{tag}run-2-node-2"
    bindir = _fake_playbook_bin(tmp_path)
    procs = [_node_run(d, bindir) for d in (*dirs, reused)]
    _here(monkeypatch)
    try:
        lines = [_pid_lines(d) for d in (*dirs, reused)]
        (reused / "pbxops.pids").write_text("".join(
            f"{role} {pid} {int(start) + 1}\n" for role, pid, start in lines[2]))
        executor.clear_node_leftovers(load_settings(args={"execution_nodes": ["node-2"]}), tag)
        assert procs[0].wait(timeout=10) == -9
        playbook = int(lines[0][0][1])
        assert eventually(lambda: not Path(f"/proc/{playbook}").exists()
                          or "Z" in Path(f"/proc/{playbook}/stat").read_text().split(") ")[1][:1])
        assert procs[1].poll() is None and procs[2].poll() is None
        assert not dirs[0].exists() and dirs[1].is_dir()
        assert not reused.exists(), "its directory goes; its processes are not the run's"
    finally:
        _stop(procs, [*dirs, reused])


def test_clearing_releases_an_ssh_add_a_killed_worker_left_waiting_for_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker killed before it wrote the key into the fifo leaves no pid file, and ssh-add
    (under a real ssh-agent, the way ansible-runner starts it) waiting to open the fifo:
    clearing opens it for writing, so ssh-add reads an empty key, fails, and its shell
    ends without starting the playbook; nothing is killed."""
    run_dir = Path(executor.NODE_WORK_DIR) / f"pbxops-t{os.getpid()}wave9-run-1-node-2"
    fifo = run_dir / "artifacts" / "run" / "ssh_key_data"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo, 0o600)
    marker = run_dir.parent / f"{run_dir.name}-playbook-ran"
    cmd = f"trap 'rm -f {fifo}' EXIT && ssh-add {fifo} && rm -f {fifo} && touch {marker}"
    proc = subprocess.Popen(["ssh-agent", "sh", "-c", cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    _here(monkeypatch)
    try:
        assert eventually(lambda: any(
            Path(f"/proc/{c}/cmdline").read_bytes().startswith(b"ssh-add\0")
            for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()))
        executor.clear_node_leftovers(
            load_settings(args={"execution_nodes": ["node-2"]}), f"t{os.getpid()}wave9-")
        assert proc.wait(timeout=10) not in (0, -9), "ssh-add failed; the shell was not killed"
        assert not marker.exists() and not run_dir.exists()
    finally:
        _stop([proc], [run_dir])
        marker.unlink(missing_ok=True)
