"""The host-side code of pbx_common's modules (roles/pbx_common/module_utils/pbx_host.py),
run here against real files, real bash/coreutils/dpkg and a real UDP SIP answerer."""

from __future__ import annotations

import importlib.util
import json
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMON = REPO / "roles" / "pbx_common"


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


host = _load("ansible.module_utils.pbx_host", COMMON / "module_utils" / "pbx_host.py")
backup = _load("pbx_backup_module", COMMON / "library" / "pbx_backup.py")


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.conf").write_text("a=1\n")
    (root / "sub" / "b.conf").write_text("b=2\n")
    (root / "with space.conf").write_text("c\n")
    return root


def test_the_digest_is_the_shell_pipeline_of_the_sorted_file_sums(tmp_path: Path) -> None:
    conf = _tree(tmp_path / "labpbx")
    digest, err = host.config_digest(str(conf))
    expected = subprocess.run(
        ["bash", "-c", "cd \"$1\" && find . -type f -print0 | sort -z | xargs -0 sha256sum "
         "| sha256sum | cut -d' ' -f1", "x", str(conf)], capture_output=True, text=True).stdout.strip()
    assert (digest, err) == (expected, "") and len(digest) == 64
    (conf / "sub" / "b.conf").write_text("b=3\n")
    assert host.config_digest(str(conf))[0] != digest


def test_an_unreadable_configuration_has_no_digest_and_says_why(tmp_path: Path) -> None:
    digest, err = host.config_digest(str(tmp_path / "missing"))
    assert digest == "" and "missing" in err


def test_the_backup_extracts_into_the_parent_with_the_same_digest(tmp_path: Path) -> None:
    conf = _tree(tmp_path / "etc" / "labpbx")
    before = host.config_digest(str(conf))[0]
    dest = tmp_path / "config.tgz"
    backup.archive(str(conf), str(dest))
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    (conf / "a.conf").write_text("broken\n")
    (conf / "new.conf").write_text("added by the update\n")
    # what the rollback does (unarchive into dirname(config_dir)), minus the file it added
    (conf / "new.conf").unlink()
    with tarfile.open(dest) as tar:
        tar.extractall(tmp_path / "etc", filter="data")
    assert host.config_digest(str(conf))[0] == before


def test_the_marker_is_written_whole_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "pbxops" / "last_update.json"
    host.write_private(str(path), host.marker_text({"wave": "3", "result": "updated"}))
    assert json.loads(path.read_text()) == {"wave": "3", "result": "updated"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["last_update.json"]  # no temp left
    assert host.read_json(str(path))["wave"] == "3"
    path.write_text("{not json")
    assert host.read_json(str(path)) == {}


def test_profile_commands_run_under_pipefail_and_missing_programs_are_no_answer() -> None:
    assert host.trimmed(host.shell("false | cat")) == ""
    assert host.trimmed(host.shell("echo 22.1 | cat")) == "22.1"
    assert host.run(["/nonexistent/prog"])[0] == 127
    assert host.package_version("no-such-package-pbxops") == ""
    assert host.installed_pins(["bash", "no-such-package-pbxops"])[0].startswith("bash=")
    assert len(host.installed_pins(["bash", "no-such-package-pbxops"])) == 1


def _answerer(status: str) -> tuple[int, list[bytes]]:
    """A UDP SIP answerer on loopback (a daemon thread; ends with the test process)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    asked: list[bytes] = []

    def serve() -> None:
        while True:
            data, peer = sock.recvfrom(65535)
            asked.append(data)
            sock.sendto(f"SIP/2.0 {status}\r\nServer: LabPBX 5.7\r\n\r\n".encode(), peer)

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1], asked


def test_sip_options_reads_status_and_server() -> None:
    port, asked = _answerer("200 OK")
    assert host.sip_options("127.0.0.1", port) == {"status": 200, "server": "LabPBX 5.7"}
    assert len(asked) == 1 and asked[0].startswith(f"OPTIONS sip:127.0.0.1:{port} ".encode())
    assert host.sip_answer("127.0.0.1", port, rounds=10)["status"] == 200
    assert len(asked) == 2  # a 200 ends the rounds at once


def test_sip_answer_asks_again_until_200_or_the_rounds_are_over() -> None:
    port, asked = _answerer("503 Service Unavailable")
    answer = host.sip_answer("127.0.0.1", port, rounds=3, poll_seconds=0.1)
    assert answer["status"] == 503 and len(asked) == 3
    free = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    assert host.sip_options("127.0.0.1", port, timeout=0.2, attempts=1)["status"] == 0


def test_free_space_is_the_smallest_of_the_paths_rounded_up_as_df_does(tmp_path: Path) -> None:
    df = subprocess.run(["df", "--output=avail", "-m", "/", str(tmp_path)], capture_output=True,
                        text=True, check=True).stdout.split()[1:]
    assert host.free_mib(["/", str(tmp_path)]) == min(int(v) for v in df)


def test_a_symlinked_configuration_is_archived_with_its_contents(tmp_path: Path) -> None:
    real = _tree(tmp_path / "real" / "asterisk")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "asterisk").symlink_to(real)
    dest = tmp_path / "config.tgz"
    backup.archive(str(tmp_path / "etc" / "asterisk"), str(dest))
    with tarfile.open(dest) as tar:
        names = set(tar.getnames())
    assert {"asterisk", "asterisk/a.conf", "asterisk/sub/b.conf"} <= names


def test_a_failed_archive_or_marker_leaves_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        backup.archive(str(tmp_path / "missing"), str(tmp_path / "config.tgz"))
    assert list(tmp_path.iterdir()) == []
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "last_update.json").mkdir()  # os.replace onto a directory fails
    with pytest.raises(OSError):
        host.write_private(str(ro / "last_update.json"), "{}")
    assert sorted(p.name for p in ro.iterdir()) == ["last_update.json"]


def test_an_existing_marker_directory_is_made_0700(tmp_path: Path) -> None:
    loose = tmp_path / "pbxops"
    loose.mkdir(mode=0o755)
    host.write_private(str(loose / "last_update.json"), "{}")
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
