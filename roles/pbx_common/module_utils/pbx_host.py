"""What the pbx_common modules read on a PBX host, one function per probe.

Runs on the managed host (Python 3 of Debian, standard library only). Shell text comes only
from the host's PBX profile (orchestrator/platforms.py, constants); anything from the book
(package names, paths) is passed as an argument, never into a shell string.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import time

# sha256 over the sorted per-file sha256 sums: the one configuration digest (pbx_check,
# pbx_update, the resume re-check). The directory is $1, not script text.
DIGEST_SCRIPT = ('set -o pipefail; cd "$1" && find . -type f -print0 | sort -z '
                 '| xargs -0 -r sha256sum | sha256sum | cut -d" " -f1')


def run(argv, timeout=120):
    """(rc, stdout, stderr) of argv; rc 127 when the program is missing."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        return 127, "", str(exc)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s"
    return proc.returncode, proc.stdout, proc.stderr


def shell(command, timeout=120):
    """A profile command (a constant, never book data) under bash -o pipefail."""
    return run(["/bin/bash", "-c", "set -o pipefail\n" + command], timeout)


def trimmed(result):
    rc, out, _ = result
    return out.strip() if rc == 0 else ""


def package_version(package):
    return trimmed(run(["dpkg-query", "--show", "--showformat=${Version}", package]))


def installed_pins(packages):
    """PACKAGE=VERSION of each installed package among ``packages`` (missing ones left out)."""
    if not packages:
        return []
    _, out, _ = run(["dpkg-query", "--show", "--showformat=${Package}=${Version}\\n", *list(packages)])
    return [line for line in out.splitlines() if line and not line.endswith("=")]


def version(package, version_command):
    """The version of record: the profile's command, else the package's dpkg version."""
    return trimmed(shell(version_command)) if version_command else package_version(package)


def service_state(service):
    """systemd's ActiveState of the unit ('unknown' when systemctl cannot tell)."""
    rc, out, _ = run(["systemctl", "show", "--property=ActiveState", "--value", service])
    return out.strip() if rc == 0 and out.strip() else "unknown"


def sip_options(address, port, timeout=2.0, attempts=3):
    """One SIP OPTIONS over UDP: {'status': code (0: no answer), 'server': header}."""
    tag = f"{random.getrandbits(32):08x}"
    branch = f"z9hG4bK{random.getrandbits(64):016x}"
    result = {"status": 0, "server": ""}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, 0))
        local = sock.getsockname()
        msg = (f"OPTIONS sip:{address}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch={branch};rport\r\n"
               "Max-Forwards: 70\r\n"
               f"From: <sip:pbxops@{local[0]}>;tag={tag}\r\n"
               f"To: <sip:{address}:{port}>\r\n"
               f"Call-ID: {tag}-selfcheck@{local[0]}\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Accept: application/sdp\r\n"
               "Content-Length: 0\r\n\r\n")
        sock.settimeout(timeout)
        for _ in range(attempts):
            sock.sendto(msg.encode(), (address, port))
            try:
                data, _ = sock.recvfrom(65535)
            except TimeoutError:
                continue
            lines = data.decode(errors="replace").split("\r\n")
            parts = lines[0].split(" ", 2)
            result["status"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() in ("server", "user-agent"):
                    result["server"] = value.strip()
            break
    except OSError:
        pass
    finally:
        sock.close()
    return result


def sip_answer(address, port, rounds=1, poll_seconds=2.0):
    """SIP OPTIONS in up to ``rounds`` rounds ``poll_seconds`` apart, until a 200 (each round
    waits up to 3 x 2 s for an answer: a PBX still starting may take rounds x 8 s)."""
    answer = sip_options(address, port)
    for _ in range(max(1, rounds) - 1):
        if answer["status"] == 200:
            break
        time.sleep(poll_seconds)
        answer = sip_options(address, port)
    return answer


def config_digest(config_dir):
    """(digest, error): digest '' with the reason when the directory cannot be read."""
    rc, out, err = run(["/bin/bash", "-c", DIGEST_SCRIPT, "pbxops-config-digest", config_dir])
    return (out.strip(), "") if rc == 0 else ("", err.strip() or f"exit {rc}")


def read_json(path):
    """The JSON object in ``path`` ({} when absent or unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def private_dir(directory):
    """``directory`` created if missing, and 0700 either way."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)


@contextlib.contextmanager
def replaced_privately(path):
    """A binary file whose content replaces ``path`` atomically (0600) when the block ends
    without an error; on any error the temporary file is removed and ``path`` untouched."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_private(path, text):
    """``text`` into ``path`` atomically, 0600, its directory 0700 (raises OSError; no
    temporary file is left behind)."""
    private_dir(os.path.dirname(path))
    with replaced_privately(path) as handle:
        handle.write(text.encode("utf-8"))


def marker_text(content):
    return json.dumps(content, indent=4, sort_keys=True) + "\n"


def free_mib(paths):
    """The smallest free space (MiB, rounded up as ``df -m`` does) among the filesystems of
    ``paths``."""
    return min(-(-shutil.disk_usage(p).free // (1024 * 1024)) for p in paths)


def dpkg_lock_free(wait_seconds):
    """Whether no process holds the dpkg lock, waiting up to ``wait_seconds`` for it."""
    locks = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"]
    for _ in range(max(1, int(wait_seconds))):
        rc, _, _ = run(["fuser", *locks])
        if rc != 0:  # fuser: 1 when no process uses the files
            return True
        time.sleep(1)
    return False
