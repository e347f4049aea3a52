"""The baseline layer: what every host has installed at ``up`` (the baseline PBX and OS
release), dpkg-installed once on top of the rootfs and cached by the packages' hashes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from .sh import run


def _key(rootfs: Path, debs: list[Path]) -> str:
    digest = hashlib.sha256(rootfs.name.encode())
    for deb in debs:
        digest.update(deb.read_bytes())
    return digest.hexdigest()[:16]


def ensure_layer(cache: Path, rootfs: Path, debs: list[Path]) -> Path:
    """An overlay upper dir with ``debs`` installed over ``rootfs``; usable as a lower layer."""
    target = cache / f"layer-{_key(rootfs, debs)}"
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=".layer-", dir=cache))
    try:
        _install(tmp, rootfs, debs)
        (tmp / "upper").rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _install(tmp: Path, rootfs: Path, debs: list[Path]) -> None:
    upper, work, merged = tmp / "upper", tmp / "work", tmp / "merged"
    for path in (upper, work, merged):
        path.mkdir()
    mount_overlay(merged, [rootfs], upper, work)
    try:
        for deb in debs:
            shutil.copy(deb, merged / "tmp" / deb.name)
        names = [f"/tmp/{deb.name}" for deb in debs]
        run(["chroot", str(merged), "dpkg", "-i", *names])
        for deb in debs:
            (merged / "tmp" / deb.name).unlink()
    finally:
        subprocess.run(["umount", str(merged)], check=False)


def mount_overlay(merged: Path, lowers: list[Path], upper: Path, work: Path) -> None:
    options = f"lowerdir={':'.join(map(str, lowers))},upperdir={upper},workdir={work}"
    run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)])
