"""The lab's Debian root filesystem: debootstrap once, customise, cache by recipe hash.

Two cached stages under ``cache/``: ``base-<hash>`` (debootstrap of the package list) and
``rootfs-<hash>`` (base plus ``files/customise.sh``). Each is built in a temporary directory
and renamed into place, so an interrupted build never leaves a half image behind. Hosts use
the image read-only as the lower layer of their overlay.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError
from .paths import FILES
from .sh import need, run

Report = Callable[[str], None]

SUITE = "bookworm"
HOST_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "sudo",
    "iproute2",
    "iputils-ping",
    "procps",
)
"""What every lab host image has: a booted systemd, sshd, python3 for Ansible, sudo."""
PACKAGES = (*HOST_PACKAGES, "kamailio", "lighttpd")
SOURCES_FILE = Path("/etc/apt/sources.list.d/debian.sources")


@dataclass(frozen=True)
class Recipe:
    """What the image is made of; its hashes name the cache entries."""

    suite: str = SUITE
    packages: tuple[str, ...] = PACKAGES
    customise: str = ""

    @classmethod
    def default(cls) -> Recipe:
        return cls(customise=(FILES / "customise.sh").read_text())

    @property
    def base_key(self) -> str:
        return _digest(self.suite, *self.packages)

    @property
    def key(self) -> str:
        return _digest(self.base_key, self.customise)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def mirror_url(sources: Path = SOURCES_FILE) -> str:
    """The Debian mirror this machine uses: the first ``URIs:`` line of its deb822 sources."""
    try:
        text = sources.read_text()
    except OSError as exc:
        raise LabError(f"no Debian mirror configured: cannot read {sources}") from exc
    for line in text.splitlines():
        name, _, value = line.strip().partition(":")
        if name == "URIs" and value.strip():
            return value.split()[0]
    raise LabError(f"no Debian mirror configured: no URIs: line in {sources}")


def ensure_rootfs(cache: Path, report: Report, recipe: Recipe | None = None) -> Path:
    """The cached image for ``recipe``, building it (minutes) only when missing."""
    recipe = recipe or Recipe.default()
    target = cache / f"rootfs-{recipe.key}"
    if target.is_dir():
        return target
    base = ensure_base(cache, recipe, report)
    report("customising the image")
    with staging(cache, "rootfs") as tmp:
        subprocess.run(["cp", "-a", "--reflink=auto", f"{base}/.", str(tmp)], check=True)
        script = tmp / "tmp" / "pbxops-customise.sh"
        script.write_text(recipe.customise)
        run(["chroot", str(tmp), "/bin/sh", "/tmp/pbxops-customise.sh"])
        script.unlink()
        tmp.rename(target)
    report(f"image ready: {target}")
    return target


def ensure_base(cache: Path, recipe: Recipe, report: Report) -> Path:
    """The debootstrapped stage of ``recipe`` (its downloaded .debs kept in the apt cache)."""
    target = cache / f"base-{recipe.base_key}"
    if target.is_dir():
        return target
    need("debootstrap", "debootstrap")
    mirror = mirror_url()
    report(f"debootstrap {recipe.suite} from {mirror} (first build takes a few minutes)")
    with staging(cache, "base") as tmp:
        _debootstrap(recipe, tmp, mirror, report)
        tmp.rename(target)
    return target


def _debootstrap(recipe: Recipe, root: Path, mirror: str, report: Report) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(recipe.packages)}",
        recipe.suite,
        str(root),
        mirror,
    ]
    tail: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = [*tail[-4:], line.rstrip()]
            if line.startswith("I: "):
                report(line[3:].rstrip())
    if proc.returncode != 0:
        detail = "; ".join(t for t in tail if t)
        raise LabError(f"debootstrap from {mirror} failed (exit {proc.returncode}): {detail}")


class staging:
    """A temporary directory next to the cache entries; removed unless renamed away."""

    def __init__(self, cache: Path, kind: str) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=cache))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
