"""Real Asterisk in the lab: the Debian sid host image and the repacked releases.

Debian ships Asterisk only in sid (``asterisk`` 1:22.x), built against sid's libraries, so
the lab's Asterisk hosts run their own image: a debootstrap of sid with the real package,
customised by ``files/customise-asterisk.sh`` (minimal PJSIP and dialplan, the ops user,
sshd), cached by recipe hash like the bookworm image (``rootfs.py``: built in a temporary
directory and renamed into place).

The lab's apt repository carries real Asterisk versions in suite ``asterisk``: the original
sid build (the one the image installs, so a rollback can reinstall it) and repacks of it
with lab versions (``lab/packages/asterisk/repack.toml``): same binaries, new Debian
version, the exact-version dependencies between ``asterisk``, ``asterisk-modules`` and
``asterisk-config`` rewritten. Two releases are broken on purpose (PJSIP left out: no
OPTIONS answer; the registrar left out: OPTIONS answered, registrations lost). Repacks are
cached under the lab cache by the hash of the originals and the repack file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError
from .paths import FILES, LAB_SOURCES
from .rootfs import HOST_PACKAGES, Recipe, Report, ensure_base, ensure_rootfs, staging

IMAGE = "asterisk"
SUITE = "sid"
PACKAGES = (*HOST_PACKAGES, "lighttpd", "asterisk")
REPACK_FILE = LAB_SOURCES / "packages" / "asterisk" / "repack.toml"
_EPOCH = "1700000000"


def recipe() -> Recipe:
    return Recipe(
        suite=SUITE,
        packages=PACKAGES,
        customise=(FILES / "customise-asterisk.sh").read_text(),
    )


@dataclass(frozen=True)
class Repack:
    """What the lab repository carries of Asterisk (``repack.toml``)."""

    upstream: str
    packages: tuple[str, ...]
    suite: str
    releases: tuple[tuple[str, str], ...]  # (version, how it is broken or "")

    @classmethod
    def load(cls, path: Path = REPACK_FILE) -> Repack:
        try:
            data = tomllib.loads(path.read_text())
            return cls(
                upstream=data["upstream"],
                packages=tuple(data["packages"]),
                suite=data["suite"],
                releases=tuple((r["version"], r.get("broken", "")) for r in data["release"]),
            )
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
            raise LabError(f"{path}: not a usable Asterisk repack file ({exc})") from exc

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version the repository carries: the original build first."""
        return (self.upstream, *(v for v, _ in self.releases))


def ensure_image(cache: Path, report: Report) -> Path:
    """The cached Asterisk host image, built (minutes) when missing; LabError when the
    Debian archive cannot provide it today."""
    try:
        return ensure_rootfs(cache, report, recipe())
    except LabError as exc:
        raise LabError(
            f"cannot build the Asterisk lab image from Debian {SUITE} today: {exc}"
        ) from exc


def ensure_debs(cache: Path, report: Report) -> list[Path]:
    """The Asterisk packages of the lab repository (original + repacks), cached."""
    spec = Repack.load()
    originals = _originals(cache, spec, report)
    digest = hashlib.sha256(REPACK_FILE.read_bytes())
    for deb in originals:
        digest.update(deb.name.encode())
    target = cache / f"asterisk-debs-{digest.hexdigest()[:16]}"
    if not target.is_dir():
        report("repacking the real Asterisk packages under lab versions")
        with staging(cache, "asterisk-debs") as tmp:
            for deb in originals:
                shutil.copy(deb, tmp / deb.name)
            for version, broken in spec.releases:
                for deb in originals:
                    _repack(deb, spec, version, broken, tmp)
            tmp.rename(target)
    return sorted(target.glob("*.deb"))


def _originals(cache: Path, spec: Repack, report: Report) -> list[Path]:
    """The sid .debs the image was debootstrapped from (kept in its base stage)."""
    archives = ensure_base(cache, recipe(), report) / "var/cache/apt/archives"
    found = []
    for package in spec.packages:
        debs = sorted(archives.glob(f"{package}_*.deb"))
        if not debs:
            raise LabError(f"{package}: not in the Asterisk image's packages ({archives})")
        version = _field(debs[-1], "Version")
        if version != spec.upstream:
            raise LabError(
                f"Debian {SUITE} ships {package} {version}, the lab repacks {spec.upstream}:"
                f" update {REPACK_FILE} (upstream and versions), inventory/demo/releases.yml"
                " and tests/lab/books.py"
            )
        found.append(debs[-1])
    return found


def _field(deb: Path, name: str) -> str:
    done = subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _repack(deb: Path, spec: Repack, version: str, broken: str, out: Path) -> Path:
    tree = out / ".tree"
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, capture_output=True)
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    text = re.sub(r"(?m)^Version: .*$", f"Version: {version}", text)
    text = text.replace(f"(= {spec.upstream})", f"(= {version})")
    control.write_text(text)
    if broken == "no-pjsip":
        _drop_module(tree, "res_pjsip.so")
    elif broken == "no-registrar":  # answers OPTIONS, takes no REGISTER
        _drop_module(tree, "res_pjsip_registrar.so")
    elif broken:
        raise LabError(
            f"{REPACK_FILE}: unknown breakage {broken!r} (known: no-pjsip, no-registrar)")
    package = _field(deb, "Package")
    arch = _field(deb, "Architecture")
    target = out / f"{package}_{version.split(':', 1)[-1]}_{arch}.deb"
    env = {**os.environ, "SOURCE_DATE_EPOCH": _EPOCH}
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree), str(target)],
        check=True,
        capture_output=True,
        env=env,
    )
    shutil.rmtree(tree)
    return target


def _drop_module(tree: Path, module: str) -> None:
    for path in tree.rglob(module):
        relative = str(path.relative_to(tree))
        path.unlink()
        sums = tree / "DEBIAN" / "md5sums"
        if sums.is_file():
            lines = sums.read_text().splitlines()
            sums.write_text("".join(f"{ln}\n" for ln in lines if not ln.endswith(relative)))
