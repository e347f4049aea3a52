"""Snapshots of a lab host's root: the rollback of a major OS upgrade the lab can offer.

A host's root is an overlay: read-only image layers plus its own writable upper dir, where
everything the host changed lives (installed packages, /etc, /var). A snapshot is a copy
of that upper dir taken while the host is shut down; restoring puts the copy back and
boots the host again, which returns it exactly to the state of the snapshot (OS release,
packages, configuration, and anything written after the snapshot is gone).

Real hardware has no such layer: there the equivalent is a hypervisor or filesystem
snapshot taken outside pbxops (see docs/lab.md and roles/os_upgrade/README.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import LabError, NotFoundError
from ..settings import Settings
from . import hosts
from .core import wait_ready
from .paths import LabPaths
from .rootfs import Report
from .state import HostState, LabState, load

_LABEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _host(settings: Settings, name: str) -> tuple[LabPaths, LabState, HostState]:
    paths = LabPaths.of(settings)
    state = load(paths.state_file)
    host = state.host(name) if state else None
    if state is None or host is None:
        raise NotFoundError(f"no lab host {name!r}")
    return paths, state, host


def snapshot_dir(paths: LabPaths, host: HostState, label: str) -> Path:
    if not _LABEL.fullmatch(label):
        raise LabError(f"snapshot label {label!r}: use lower-case letters, digits and . _ -")
    return paths.host_dir(host.machine) / "snapshots" / label


def _upper(paths: LabPaths, host: HostState) -> Path:
    return paths.host_dir(host.machine) / "rw" / "upper"


def _sh(argv: list[str]) -> None:
    """Run a command of the snapshot; its failure is a LabError with its last line."""
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        last = ((exc.stderr or "").strip().splitlines() or [f"exit status {exc.returncode}"])[-1]
        raise LabError(f"{' '.join(argv[:2])} ... failed: {last}") from None
    except OSError as exc:
        raise LabError(f"{argv[0]}: {exc.strerror or exc}") from None


def _copy(src: Path, dest: Path) -> None:
    """Everything, with owners, modes, xattrs and overlay whiteouts (device nodes)."""
    _sh(["cp", "-a", f"{src}/.", str(dest)])


def _replace_upper(source: Path, upper: Path) -> None:
    """Put a copy of ``source`` in place of ``upper`` (and empty the overlay's work dir
    beside it): copied into a staging dir first, swapped in only once complete, so a
    failed copy leaves ``upper`` as it was."""
    staging = upper.with_name("upper.restore")
    old = upper.with_name("upper.old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir()
    try:
        _copy(source, staging)
    except LabError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    upper.rename(old)
    staging.rename(upper)
    shutil.rmtree(old, ignore_errors=True)
    work = upper.parent / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()


def _lowers(root: Path) -> list[Path]:
    """The image layers of the mounted overlay at ``root`` (as the lab mounted them)."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == str(root) and fields[2] == "overlay":
            for option in fields[3].split(","):
                if option.startswith("lowerdir="):
                    return [Path(p) for p in option.removeprefix("lowerdir=").split(":")]
    raise LabError(f"{root}: no overlay mounted")


def _quiet(_: str) -> None:
    return None


def take(settings: Settings, name: str, label: str, report: Report = _quiet) -> Path:
    """Shut ``name`` down, copy its writable layer to the snapshot ``label``, boot it again."""
    paths, state, host = _host(settings, name)
    target = snapshot_dir(paths, host, label)
    staging = target.with_name(f".{label}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    report(f"{name}: shutting down for the snapshot")
    hosts.stop(paths, host)
    try:
        _copy(_upper(paths, host), staging)
    finally:
        hosts.start(paths, host)
    report(f"{name}: booting")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    wait_ready(paths, state.model_copy(update={"hosts": (host,)}))
    return target


def restore(settings: Settings, name: str, label: str, report: Report = _quiet) -> None:
    """Shut ``name`` down, replace its writable layer by the snapshot ``label``, boot it."""
    paths, state, host = _host(settings, name)
    source = snapshot_dir(paths, host, label)
    if not source.is_dir():
        raise NotFoundError(f"{name}: no snapshot {label!r}")
    root = hosts.root_of(paths, host)
    lowers = _lowers(root)
    report(f"{name}: shutting down to restore {label}")
    hosts.stop(paths, host)
    if os.path.ismount(root):  # the overlay only: its writable tmpfs stays
        _sh(["umount", str(root)])
    try:
        _replace_upper(source, _upper(paths, host))
    finally:  # restored, or (the copy failed) as it was: booted either way
        hosts.mount_root(paths, host, lowers)
        report(f"{name}: booting")
        hosts.start(paths, host)
    wait_ready(paths, state.model_copy(update={"hosts": (host,)}))
