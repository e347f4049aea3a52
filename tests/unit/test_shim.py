"""orchestrator/shim/ansible-playbook: the playbook runs on to its end when the process
reading its output dies (a pbxops killed with -9), keeps the pid ansible-runner signals,
and its output still arrives while the reader lives.

A stand-in ``ansible-playbook`` (a shell script on PATH) plays the playbook so the shim's
own behaviour is tested without Ansible; the real one is exercised by every lab run and by
the kill -9 lab tests (tests/lab/test_wave_faults_lab.py, test_access_lab.py)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from orchestrator import executor

SHIM = executor.SHIM_DIR / "ansible-playbook"


def _fake_playbook(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir()
    fake = bin_dir / "ansible-playbook"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)


def _env(bin_dir: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{executor.SHIM_DIR}:{bin_dir}:/usr/bin:/bin"}


def test_output_passes_through_with_args_exit_code_and_the_same_pid(tmp_path: Path) -> None:
    _fake_playbook(tmp_path / "bin", 'echo "pid $$ args $*"; echo oops >&2; exit 3\n')
    proc = subprocess.Popen([str(SHIM), "-i", "inv", "site.yml"], env=_env(tmp_path / "bin"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3
    lines = out.decode().splitlines()
    assert lines[0] == f"pid {proc.pid} args -i inv site.yml"  # exec: the pid runner signals
    assert lines[1] == "oops"  # stderr too, as on the pty


def _playbook_losing_its_reader(tmp_path: Path, shim: bool) -> tuple[int, bool]:
    """A stand-in playbook writing 40 retry messages, then marking its end; its reader
    reads the first message and dies. Returns (exit code, whether it reached its end)."""
    done = tmp_path / "done"
    _fake_playbook(tmp_path / "bin", (
        "i=0; while [ $i -lt 40 ]; do echo \"retrying $i\" || exit 9; i=$((i+1)); sleep 0.05;"
        f" done\ntouch {done}\n"
    ))
    argv = [str(SHIM), "site.yml"] if shim else [str(tmp_path / "bin" / "ansible-playbook")]
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(argv, env=_env(tmp_path / "bin"), stdout=write_end,
                            stderr=subprocess.DEVNULL)
    os.close(write_end)
    assert os.read(read_end, 100).startswith(b"retrying 0")
    os.close(read_end)  # the reader dies: every later write to it fails
    return proc.wait(timeout=60), done.exists()


def test_playbook_runs_to_its_end_after_its_reader_died(tmp_path: Path) -> None:
    assert _playbook_losing_its_reader(tmp_path, shim=True) == (0, True)


def test_without_the_shim_the_same_playbook_dies_with_its_reader(tmp_path: Path) -> None:
    """The failure the shim exists for (the control case of the test above)."""
    code, finished = _playbook_losing_its_reader(tmp_path, shim=False)
    assert code != 0 and not finished


def test_the_pump_ends_with_the_playbook_even_if_a_child_keeps_the_pipe(tmp_path: Path) -> None:
    """A process the playbook left behind (an ssh ControlPersist master, say) must not keep
    the pty open: ansible-runner waits only 5 s for its end of file."""
    stray = tmp_path / "stray.pid"
    _fake_playbook(tmp_path / "bin", f"sleep 60 & echo $! > {stray}\necho started\n")
    proc = subprocess.Popen([str(SHIM)], env=_env(tmp_path / "bin"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == b"started\n"
        assert proc.wait(timeout=30) == 0
        # the stray sleep still holds the pipe; the pump must go anyway (EOF reaches us)
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready and proc.stdout.read() == b"", "the pump outlived the playbook"
    finally:
        os.kill(int(stray.read_text()), signal.SIGKILL)


def test_no_real_playbook_on_path_is_a_clear_error(tmp_path: Path) -> None:
    only_python = tmp_path / "py"
    only_python.mkdir()
    (only_python / "python3").symlink_to(sys.executable)
    out = subprocess.run([str(SHIM)], env={**os.environ, "PATH": f"{executor.SHIM_DIR}:{only_python}"},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 127 and "ansible-playbook not found" in out.stderr
