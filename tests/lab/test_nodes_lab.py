"""Waves over two execution nodes (ansible-runner transmit -> worker over ssh -> process):
every host updated with its result in the ledger, the plays really ran on the nodes, no key
material left on the controller; a worker killed mid-batch is a clear error naming the node,
and `wave resume` re-checks that node's hosts and finishes without updating any host twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from orchestrator import app, lab
from orchestrator.ledger import waves as wl
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe
from orchestrator.waves import RunOptions
from orchestrator.waves import events as ev

from .books import REPO, book_lab, customer
from .conftest import eventually
from .waves import address as _address
from .waves import cli, healthy_on, installs, kill_when, reset, rows, start, wave_actions
from .waves import cli_env as _cli_env

pytestmark = pytest.mark.lab
SUBNET = IPv4Network("10.210.70.0/24")  # targets and nodes share it: the lab bridge does not route
HOSTS = [f"metro-{i}-pbx" for i in range(1, 5)]
NODES = ("node-1", "node-2")
FAST = RunOptions(call_poll_seconds=1)


@pytest.fixture(scope="module")
def nodes_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    metro = customer("metro", str(SUBNET),
                     {h: str(SUBNET.network_address + 10 + i) for i, h in enumerate(HOSTS)})
    nodes = lab.execution_node_specs(len(NODES), SUBNET)
    with book_lab(tmp_path_factory.mktemp("nodes"), [metro], extra_specs=nodes) as settings:
        yield settings.model_copy(update={
            "execution_nodes": NODES,
            "execution_node_command": lab.execution_node_command(),
        })


def _node_address(s: Settings, node: str) -> str:
    state = lab.lab_state(s)
    found = state.host(node) if state else None
    assert found is not None
    return found.address


def _plan(s: Settings, release: str) -> int:
    wave_id, _ = app.plan_wave(s, release, options=PlanOptions(canary_size=0, batch_size=len(HOSTS)))
    assert wave_id is not None
    return wave_id


def _logins(s: Settings, host: str) -> list[str]:
    """Addresses the ops user logged in from on ``host``, oldest first (sshd's journal)."""
    log = lab.run_in_host(s, host, ["journalctl", "--no-pager", "-o", "cat", "_COMM=sshd"])
    return [ln.split(" from ")[1].split()[0] for ln in log.splitlines()
            if ln.startswith("Accepted publickey for pbxops from ")]


def _seed_chunk(key_file: Path) -> str:
    """Base64 text that only this ed25519 key has: the part of the OpenSSH key file that
    encodes the private seed (every such file shares its header)."""
    body = "".join(ln for ln in key_file.read_text().splitlines() if "PRIVATE KEY" not in ln)
    assert len(body) == 312, "an unencrypted OpenSSH ed25519 key with the lab's comment"
    return body[-95:-60]


def test_wave_over_two_nodes_updates_every_host_and_runs_on_the_nodes(nodes_env: Settings) -> None:
    s = nodes_env
    wave_id = _plan(s, "pbx-18.1")
    before = {host: len(_logins(s, host)) for host in HOSTS}
    outcome = app.run_wave(s, wave_id, FAST)
    report = {r["host"]: r for r in app.wave_report(s, wave_id)}
    assert outcome.status == "completed", report
    for host in HOSTS:
        assert probe(_address(s, host), timeout=3).version == "18.1.0"
        assert (report[host]["version_before"], report[host]["version_after"]) == ("18.0.0", "18.1.0")
        assert list((s.state_dir / "backups" / f"wave-{wave_id}" / host).glob("config-18.0.0-*.tgz")), \
            f"{host}: the backup fetched on its node came back to the controller"
    # Round-robin: metro-1/3 on node-1, metro-2/4 on node-2; during the wave each host saw
    # ssh logins only from its node (the controller never ran a play against it).
    for i, host in enumerate(HOSTS):
        during = set(_logins(s, host)[before[host]:])
        assert during == {_node_address(s, NODES[i % 2])}, (host, during)
    rows = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}
    runs = Path(rows[HOSTS[0]].detail["artifacts"])
    assert sorted(p.name for p in runs.iterdir()) == ["node-node-1", "node-node-2"]
    assert list((runs / "node-node-2" / "artifacts" / "run" / "job_events").glob("*.json"))
    key = _seed_chunk(lab.LabPaths.of(s).ssh_key)
    leaked = [p for p in s.state_dir.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert not leaked, f"key material on the controller: {leaked}"
    for node in NODES:
        left = lab.run_in_host(s, node, ["sh", "-c", "ls -d /tmp/pbxops-* 2>/dev/null; true"])
        assert not left.strip(), f"{node} kept the worker's private data dir: {left}"


def _worker_pids(wave_id: int, node: str) -> list[int]:
    """The `ansible-runner worker` of this wave on ``node`` (inside its container; the
    controller's ssh client carries the same directory name and is left alone)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        line = " ".join(argv)
        if (argv[0] != "ssh" and "ansible-runner worker" in line and "sudo" not in argv[0]
                and f"/tmp/pbxops-wave{wave_id}-" in line and line.split("--private-data-dir=")[1]
                .split()[0].endswith(f"-{node}")):
            pids.append(int(proc.name))
    return pids


def test_worker_killed_mid_batch_is_a_node_error_and_resume_finishes(nodes_env: Settings) -> None:
    s = nodes_env
    wave_id = _plan(s, "pbx-19.0")
    pbxops = [sys.executable, "-m", "orchestrator.cli"]
    proc = subprocess.Popen([*pbxops, "wave", "run", str(wave_id), "--call-poll-seconds", "1"],
                            env=_cli_env(s), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        pids = eventually(lambda: _worker_pids(wave_id, "node-2"), 120, 0.1)
        assert pids, "node-2's worker never started"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)  # the node's worker dies mid-batch
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 6, out[-2000:] + err[-2000:]
    assert "execution node node-2 failed" in err and "Traceback" not in err + out, err
    assert f"pbxops wave resume {wave_id}" in err
    ledger = app.open_ledger(s)
    rows = {r.hostname: r for r in wl.host_rows(ledger, wave_id)}
    on_node_2 = HOSTS[1::2]
    for host in on_node_2:
        assert rows[host].status == "running", (host, rows[host].status)  # no final result
    for host in HOSTS[0::2]:  # node-1 finished its share, recorded as usual
        assert rows[host].status == "done", (host, rows[host].status, rows[host].error)
    assert wl.get_wave(ledger, wave_id).status == "interrupted"  # type: ignore[union-attr]

    res = subprocess.run([*pbxops, "wave", "resume", str(wave_id), "--json", "--call-poll-seconds", "1"],
                         env=_cli_env(s), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    events: list[dict[str, Any]] = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert any(e.get("event") == "recheck" and sorted(e["hosts"]) == sorted(on_node_2) for e in events)
    assert events[-1]["event"] == "result" and events[-1]["status"] == "completed", events[-1]
    rows = {r.hostname: r for r in wl.host_rows(ledger, wave_id)}
    for host in HOSTS:
        assert rows[host].status == "done" and probe(_address(s, host), timeout=3).version == "19.0.0"
    for host in HOSTS[0::2]:
        assert rows[host].attempts == 1, f"{host} was updated again after it had completed"
    for node in NODES:  # resume cleared what the killed worker left (processes, its directory)
        _no_leftovers(s, node, wave_id)


def _no_leftovers(s: Settings, node: str, wave_id: int) -> None:
    """Nothing of the wave's runs on ``node``: no process, no directory. The ssh-agent of a
    run that ended normally notices its end within 10 s (its own parent check)."""
    def left() -> str:
        return lab.run_in_host(s, node, ["sh", "-c", (
            f"pgrep -af '[p]bxops-wave{wave_id}-'; ls -d /tmp/[p]bxops-wave{wave_id}-* 2>/dev/null; true"
        )]).strip()

    assert eventually(lambda: left() == "", 30, 1), f"{node}: {left()}"


def test_a_node_that_is_down_is_left_out_and_the_other_node_runs_the_whole_wave(
    nodes_env: Settings,
) -> None:
    """Failover: node-2 is unplugged before the wave and stays down. The probe leaves it
    out (said in the events), node-1 takes every host, and nothing in the settings changes."""
    s = nodes_env
    reset(s, "18.0.0", *HOSTS)
    wave_id = _plan(s, "pbx-18.1")
    before = {host: len(_logins(s, host)) for host in HOSTS}
    events: list[ev.WaveEvent] = []
    lab.inject_fault(s, "node-2", "network-down")
    try:
        outcome = app.run_wave(s, wave_id, FAST, on_event=events.append)
    finally:
        lab.clear_fault(s, "node-2", "network-down")
    assert outcome.status == "completed", outcome
    down = [e for e in events if isinstance(e, ev.NodeDown)]
    assert [e.node for e in down] == ["node-2"] and "ssh failed" in down[0].reason, down
    for host in HOSTS:
        assert probe(_address(s, host), timeout=3).version == "18.1.0"
        during = set(_logins(s, host)[before[host]:])
        assert during == {_node_address(s, "node-1")}, (host, during)
    rows = {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}
    assert all(rows[h].status == "done" and rows[h].attempts == 1 for h in HOSTS), rows
    runs = Path(rows[HOSTS[0]].detail["artifacts"])
    assert sorted(p.name for p in runs.iterdir()) == ["node-node-1"]


def test_controller_killed_9_mid_update_on_the_nodes_then_resume_updates_each_host_once(
    nodes_env: Settings,
) -> None:
    """The local wave's crash rule over execution nodes: pbxops is killed -9 while the nodes
    are installing (one host in `update`); the workers on the nodes run on or die with their
    stream. `wave resume` waits for them, re-checks the in-flight hosts and finishes: every
    host ends on the target with exactly one install in its own dpkg.log."""
    s = nodes_env
    reset(s, "18.0.0", *HOSTS)
    before = {h: installs(s, h, "18.1.0") for h in HOSTS}
    wave_id = _plan(s, "pbx-18.1")
    kill_when(s, start(s, "wave", "run", str(wave_id)), wave_id, HOSTS[1], "update")
    assert all(r.status in (wl.RUNNING, wl.DONE) for r in rows(s, wave_id).values())

    code, result, tail = cli(s, "wave", "resume", str(wave_id))
    assert code == 0 and result["status"] == "completed", tail
    final = rows(s, wave_id)
    for host in HOSTS:
        assert final[host].status == "done", (host, final[host])
        healthy_on(s, host, "18.1.0")
        assert installs(s, host, "18.1.0") - before[host] == 1, f"{host}: dpkg installed it again"
        kinds = [a.kind for a in wave_actions(s, wave_id, host)]
        assert kinds.count("wave.done") == 1 and kinds[-1] == "wave.done", (host, kinds)
    for node in NODES:  # nothing of the killed run is left on the nodes
        _no_leftovers(s, node, wave_id)
