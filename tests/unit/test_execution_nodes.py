"""Execution nodes without the lab: host splitting, settings, the ssh_config a node gets, and
the real transmit -> worker -> process pipeline with a local shell standing in for ssh."""

from __future__ import annotations

import sys
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


def test_the_node_orphan_pattern_finds_ansible_playbook_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """orphaned_node_runs' pgrep pattern, run by the real pgrep against real processes (the
    command runs here instead of over ssh): the ansible-playbook of the wave's run is found;
    the ssh-agent/ssh-add wrapper a dead worker leaves (waiting forever, touching no host),
    another wave and the pgrep itself are not."""
    import subprocess

    script = tmp_path / "ansible-playbook"
    script.write_text("import time\ntime.sleep(60)\n")
    run_dir = "/tmp/pbxops-wave9-run-20261125T000000000000-node-2"
    procs = [
        subprocess.Popen([sys.executable, str(script), "-i", f"{run_dir}/inventory/hosts.json"]),
        subprocess.Popen(["sh", "-c", "sleep 60", "ssh-add", f"{run_dir}/artifacts/ssh_key_data",
                          "&& ansible-playbook", "-i", run_dir]),
        subprocess.Popen([sys.executable, str(script), "-i", "/tmp/pbxops-wave90-run-1/inv"]),
    ]
    commands: list[str] = []

    def here(settings: Settings, node: str, command: str) -> list[str]:
        commands.append(command)
        return ["sh", "-c", command]

    monkeypatch.setattr(executor, "node_ssh_argv", here)
    try:
        settings = load_settings(args={"execution_nodes": ["node-2"]})
        found = executor.orphaned_node_runs(settings, "wave9-")
        assert found == [f"node-2:{procs[0].pid}"], (found, commands)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_clearing_node_leftovers_stops_the_waves_processes_and_removes_its_dirs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """clear_node_leftovers' script, run here instead of over ssh: the wave's stray
    processes and directories go; another wave's (wave90 vs wave9) stay; the shell running
    the script is not among what it kills (it would stop before removing the directories)."""
    import os
    import subprocess

    tag = f"t{os.getpid()}wave9-"
    other = f"t{os.getpid()}wave90-"
    dirs = [Path(executor.NODE_WORK_DIR) / f"pbxops-{t}run-1-node-2" for t in (tag, other)]
    for d in dirs:
        (d / "artifacts").mkdir(parents=True)
    procs = [subprocess.Popen(["sh", "-c", "sleep 60", "ssh-add", f"{d}/artifacts/ssh_key_data"])
             for d in dirs]
    monkeypatch.setattr(executor, "node_ssh_argv",
                        lambda settings, node, command: ["sh", "-c", command])
    try:
        executor.clear_node_leftovers(load_settings(args={"execution_nodes": ["node-2"]}), tag)
        assert procs[0].wait(timeout=10) == -9
        assert procs[1].poll() is None
        assert not dirs[0].exists() and dirs[1].is_dir()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for d in dirs:
            subprocess.run(["rm", "-rf", str(d)], check=True)
