"""Helpers of the wave lab tests: what a host really has (dpkg, its dpkg.log, SIP), the
ledger rows of a wave, and pbxops run as a separate process (the way an engineer runs it,
so it can be killed -9 mid-step)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

from orchestrator import app, lab
from orchestrator.ledger import waves as wl
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe

from .books import REPO
from .conftest import eventually

PBXOPS = [sys.executable, "-m", "orchestrator.cli"]


def address(s: Settings, host: str) -> str:
    return str(app.open_fleet(s).host(host).address)


def sip(s: Settings, host: str) -> tuple[int | None, str | None]:
    answer = probe(address(s, host), timeout=3)
    return answer.status, answer.version


def dpkg(s: Settings, host: str) -> str:
    return lab.run_in_host(s, host, ["dpkg-query", "-W", "-f=${Version}", "labpbx"]).strip()


def installs(s: Settings, host: str, version: str) -> int:
    """How often dpkg installed labpbx ``version`` on the host (its own log, not ours)."""
    out = lab.run_in_host(s, host, ["sh", "-c", (
        f"grep -c ' status installed labpbx:all {version}$' /var/log/dpkg.log || true")])
    return int(out.strip() or 0)


def healthy_on(s: Settings, host: str, version: str) -> None:
    assert dpkg(s, host) == version, f"{host}: dpkg says {dpkg(s, host)}, expected {version}"
    status = eventually(lambda: sip(s, host)[0] == 200, 20)
    assert status and sip(s, host) == (200, version), f"{host}: SIP answers {sip(s, host)}"


def reset(s: Settings, version: str, *hosts: str) -> None:
    """Put hosts on labpbx ``version`` (apt downgrade; apt's package cache emptied) and wait
    until each answers SIP with it."""
    script = (
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && "
        f"apt-get install -y -q --allow-downgrades -o Dpkg::Options::=--force-confnew "
        f"labpbx={version} >/dev/null && apt-get clean && systemctl restart labpbx"
    )
    for host in hosts:
        lab.run_in_host(s, host, ["sh", "-c", script])
    for host in hosts:
        healthy_on(s, host, version)


def rows(s: Settings, wave_id: int) -> dict[str, wl.HostRow]:
    return {r.hostname: r for r in wl.host_rows(app.open_ledger(s), wave_id)}


def wave_actions(s: Settings, wave_id: int, host: str) -> list[Any]:
    return [a for a in app.open_ledger(s).actions(kind_prefix="wave.")
            if a.host == host and a.detail.get("wave") == wave_id]


def cli_env(s: Settings) -> dict[str, str]:
    """The environment that points a pbxops process at the test's book, ledger and lab."""
    env = dict(os.environ, PBXOPS_BOOK=str(s.book), PBXOPS_STATE_DIR=str(s.state_dir),
               PBXOPS_LEDGER_URL=s.ledger, PBXOPS_SSH_CONFIG=str(s.ssh_config),
               PBXOPS_LAB_RUN_DIR=str(s.lab_run_dir), PBXOPS_SMTP_PORT="1")
    if s.execution_nodes:
        env.update(PBXOPS_EXECUTION_NODES=",".join(s.execution_nodes),
                   PBXOPS_EXECUTION_NODE_COMMAND=s.execution_node_command)
    return env


def cli(s: Settings, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run pbxops with --json; (exit code, the final result line, output tail)."""
    out = subprocess.run([*PBXOPS, *args, "--json", "--call-poll-seconds", "1"],
                         env=cli_env(s), cwd=REPO, capture_output=True, text=True, timeout=900)
    results = [json.loads(line) for line in out.stdout.splitlines()
               if line.startswith('{"event": "result"')]
    tail = out.stdout[-3000:] + out.stderr[-3000:]
    assert results, tail
    return out.returncode, results[-1], tail


def start(s: Settings, *args: str) -> subprocess.Popen[bytes]:
    """pbxops in its own session, output discarded: to be killed by ``kill_when``."""
    return subprocess.Popen([*PBXOPS, *args, "--call-poll-seconds", "1"], env=cli_env(s),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill_when(s: Settings, proc: subprocess.Popen[bytes], wave_id: int, host: str,
              step: str, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` (SIGKILL; SIGINT is a Ctrl-C) to pbxops' whole process group as soon as
    the ledger shows ``host`` in ``step``, and wait for pbxops to end; the ansible-playbook
    it started runs on in its own session."""
    def at_step() -> bool:
        row = rows(s, wave_id)[host]
        assert proc.poll() is None, f"the run ended before {host} reached {step}: {row}"
        return row.status == wl.RUNNING and row.step == step

    try:
        assert eventually(at_step, 300, 0.05), f"{host} never reached step {step}"
    finally:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"pbxops did not end on {sig.name}") from None
