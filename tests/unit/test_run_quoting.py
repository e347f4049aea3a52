"""`pbxops run CUST -- CMD` builds the host's command line as ssh does (issue 16): the
arguments joined by spaces and parsed by the host's shell, so `-- 'cmd with args'` runs
`cmd` with its arguments (quoting each argument made it one program named 'cmd with args')."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator import remote
from orchestrator.access import sessions


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["systemctl status asterisk"], "systemctl status asterisk"),
        (["systemctl", "status", "asterisk"], "systemctl status asterisk"),
        (["echo 'a  b' | wc -c"], "echo 'a  b' | wc -c"),
        (["ls", "/var/lib/asterisk/*.conf"], "ls /var/lib/asterisk/*.conf"),
    ],
)
def test_command_line_is_what_ssh_sends(argv: list[str], line: str) -> None:
    assert remote.command_line(argv) == line


def test_a_quoted_command_runs_in_the_shell_as_over_ssh(tmp_path: Path) -> None:
    """What sshd does with the line: ``$SHELL -c LINE``; here the local shell stands in."""
    line = remote.command_line(["printf '%s|' one 'two three'"])
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    assert out.stdout == "one|two three|"
    assert remote.command_line(["printf '%s|' one 'two three'"]) != shlex.join(
        ["printf '%s|' one 'two three'"])


def test_session_run_sends_the_ssh_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    recorded: list[Any] = []

    def run_command(creds: Any, host: str, address: str, key: str, text: str) -> Any:
        sent.append(text)
        return remote.CommandResult(host, 0, "", "")

    monkeypatch.setattr(remote, "run_command", run_command)
    monkeypatch.setattr(sessions, "open_context", lambda settings: SimpleNamespace(
        ledger=SimpleNamespace(record=recorded.append)))
    monkeypatch.setattr(sessions, "check", lambda *a: None)
    monkeypatch.setattr(sessions, "_refresh", lambda ctx, cert: cert)
    monkeypatch.setattr(sessions, "latest_host_certificate",
                        lambda ctx, host: SimpleNamespace(public_key="ssh-ed25519 AAAA"))
    cert: Any = SimpleNamespace(serial=7, contract_id="acme-sla")
    session = sessions.Session("mweber", "acme", cert, None, (("acme-pbx", "10.250.1.2"),))  # type: ignore[arg-type]
    sessions.run(None, session, ["asterisk -rx 'core show version'"])  # type: ignore[arg-type]
    assert sent == ["asterisk -rx 'core show version'"]
    assert recorded[0].summary == "asterisk -rx 'core show version'"


def test_bench_wave_floor_quotes_the_version_and_address_in_its_host_scripts() -> None:
    """bench/wave_floor.py runs these with `sudo -n bash -c` on lab hosts: a release
    version (or address) must reach bash as one quoted word, never as shell code."""
    import sys

    bench = str(Path(__file__).resolve().parents[2] / "bench")
    sys.path.insert(0, bench)
    try:
        import wave_floor
    finally:
        sys.path.remove(bench)
    evil = "1.0'$(touch /tmp/pwned)`id`;x"
    address = "10.0.0.1;$(id)"
    for step in wave_floor.STEPS:
        script = wave_floor.step_script(step, address, "labpbx", evil)
        rest = script.replace(shlex.quote(evil), "").replace(shlex.quote(f"labpbx={evil}"), "")
        rest = rest.replace(shlex.quote(address), "")
        assert "$(touch" not in rest and "`id`" not in rest and "$(id)" not in rest, (step, script)
        syntax = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
        assert syntax.returncode == 0, (step, syntax.stderr)
