"""One lab host: its overlay root, identity files, and the supervised systemd-nspawn."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import cgroups, procs
from .aptproxy import debian_sources
from .image import mount_overlay
from .paths import FILES, LabPaths
from .repo import apt_sources
from .rootfs import SUITE
from .sh import run
from .state import HostState

HOST_DISK = "512m"
"""Size of each host's writable layer (a tmpfs): small enough that "disk full" is cheap."""
DEBIAN_HOST_DISK = "4g"
"""A host that takes real Debian upgrades: a bookworm -> trixie upgrade writes about 1 GiB
(new packages, apt's download cache) into the writable layer; the major upgrade's pre-check
wants 2 GiB free in /var. tmpfs only uses memory for what is written."""


def keypair(comment: str) -> tuple[bytes, bytes]:
    """A new ed25519 key as (OpenSSH private key, ``ssh-ed25519 AAAA... comment`` line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public + b" " + comment.encode() + b"\n"


def root_of(paths: LabPaths, host: HostState) -> Path:
    return paths.host_dir(host.machine) / "root"


def mount_root(paths: LabPaths, host: HostState, lowers: list[Path]) -> Path:
    """Mount a fresh overlay for ``host`` (writable layer on its own size-limited tmpfs)."""
    base = paths.host_dir(host.machine)
    rw, root = base / "rw", base / "root"
    rw.mkdir(parents=True, exist_ok=True)
    root.mkdir(exist_ok=True)
    if not os.path.ismount(rw):
        size = DEBIAN_HOST_DISK if host.debian else HOST_DISK
        run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(rw)])
    if not os.path.ismount(root):
        (rw / "upper").mkdir(exist_ok=True)
        (rw / "work").mkdir(exist_ok=True)
        mount_overlay(root, lowers, rw / "upper", rw / "work")
    return root


def unmount_root(paths: LabPaths, host: HostState) -> None:
    base = paths.host_dir(host.machine)
    for mountpoint in (base / "root", base / "rw"):
        if os.path.ismount(mountpoint):
            run(["umount", str(mountpoint)], check=False)


def write_identity(root: Path, host: HostState, ops_public: bytes, repo_key: bytes) -> bytes:
    """Hostname, machine id, a new sshd host key, the ops user's key and apt's trust.
    Returns the host's public key line for known_hosts."""
    _write(root / "etc/hostname", f"{host.name}\n")
    _write(
        root / "etc/hosts", f"127.0.0.1\tlocalhost\n{host.address}\t{host.name} {host.machine}\n"
    )
    _write(root / "etc/machine-id", uuid.uuid4().hex + "\n")
    private, public = keypair(f"root@{host.name}")
    _write(root / "etc/ssh/ssh_host_ed25519_key", private, 0o600)
    _write(root / "etc/ssh/ssh_host_ed25519_key.pub", public)
    uid, gid = _ids(root, "pbxops")
    ssh_dir = root / "home/pbxops/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    _write(ssh_dir / "authorized_keys", ops_public, 0o600)
    for path in (ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(path, uid, gid)
    _write(root / "etc/apt/keyrings/pbxops-lab.gpg", repo_key)
    _write(root / "etc/apt/sources.list.d/pbxops-lab.sources", apt_sources(host.image))
    if host.debian:
        _write(root / "etc/apt/sources.list.d/debian.sources", debian_sources(SUITE))
    return public


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)


def _ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise KeyError(user)


def supervisor_pidfile(paths: LabPaths, host: HostState) -> Path:
    return paths.host_dir(host.machine) / "supervisor.pid"


def nspawn_pidfile(paths: LabPaths, host: HostState) -> Path:
    return paths.host_dir(host.machine) / "nspawn.pid"


def marker(paths: LabPaths, host: HostState) -> str:
    """A string only this host's supervisor and nspawn have on their command lines."""
    return str(paths.host_dir(host.machine)) + "/"


def nspawn_argv(paths: LabPaths, host: HostState) -> list[str]:
    return [
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{host.netns}",
        "-D",
        str(root_of(paths, host)),
        "-M",
        host.machine,
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        "--capability=CAP_NET_ADMIN",  # WireGuard spokes (wireguard-go) need TUN devices
        *(f"--bind-ro={path}" for path in host.binds),
    ]


def start(paths: LabPaths, host: HostState) -> int:
    """Start the host's supervisor (which boots it); returns the supervisor's pid."""
    base = paths.host_dir(host.machine)
    argv = [
        "/bin/sh",
        str(FILES / "supervise.sh"),
        str(nspawn_pidfile(paths, host)),
        "--",
        *nspawn_argv(paths, host),
    ]
    dirs = cgroups.create(host.machine)
    (base / "cgroups").write_text("".join(f"{d}\n" for d in dirs))
    env = {**os.environ, "PBXLAB_CGROUPS": " ".join(map(str, dirs))}
    if host.image == "asterisk":
        # sid's systemd runs on the unified cgroup hierarchy only; nspawn gives it one even
        # where the machine itself boots with the hybrid layout.
        env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
    with (base / "console.log").open("ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env
        )
    supervisor_pidfile(paths, host).write_text(f"{proc.pid}\n")
    return proc.pid


def running(paths: LabPaths, host: HostState) -> bool:
    mark = marker(paths, host)
    return procs.alive(procs.read_pid(supervisor_pidfile(paths, host)), mark)


def leader(paths: LabPaths, host: HostState) -> int | None:
    """The pid (in the root namespace) of the host's PID 1, if it is running."""
    nspawn = procs.read_pid(nspawn_pidfile(paths, host))
    if not procs.alive(nspawn, marker(paths, host)):
        return None
    assert nspawn is not None
    kids = procs.children(nspawn)
    return kids[0] if kids else None


def stop(paths: LabPaths, host: HostState, timeout: float = 15.0) -> None:
    """Shut the host down in order (supervisor → nspawn → systemd); pull the plug on timeout."""
    mark = marker(paths, host)
    supervisor = procs.read_pid(supervisor_pidfile(paths, host))
    nspawn = procs.read_pid(nspawn_pidfile(paths, host))
    procs.signal_pid(supervisor, mark, signal.SIGTERM)
    if not procs.wait_gone(nspawn, mark, timeout):
        init = leader(paths, host)
        procs.signal_pid(supervisor, mark, signal.SIGKILL)
        if init:
            os.kill(init, signal.SIGKILL)
        procs.stop(nspawn, mark, 5.0)
    procs.stop(supervisor, mark, 5.0)
    cgroups.remove(cgroup_dirs(paths, host))


def cgroup_dirs(paths: LabPaths, host: HostState) -> list[Path]:
    """The cgroups the lab made for ``host`` (recorded when it was started)."""
    listing = paths.host_dir(host.machine) / "cgroups"
    if not listing.is_file():
        return []
    return [Path(line) for line in listing.read_text().splitlines() if line]


def host_exec(paths: LabPaths, host: HostState, argv: list[str]) -> str:
    """Run ``argv`` inside the running host (all its namespaces), as root; returns stdout."""
    init = leader(paths, host)
    if init is None:
        from ..errors import LabError

        raise LabError(f"{host.name} is not running")
    return run(["nsenter", "-t", str(init), "-m", "-u", "-i", "-n", "-p", "--", *argv]).stdout
