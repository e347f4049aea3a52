"""The lab's apt repository: built from ``lab/packages`` at ``up``, signed, served on the bridge.

Every ``package.toml`` lists releases; each release becomes a ``.deb`` (dpkg-deb) in its suite.
Suites are indexed with apt-ftparchive and signed (InRelease and Release.gpg) with a key made
at ``up`` in the lab's GNUPGHOME. Hosts trust exactly that key via ``Signed-By``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError
from .paths import LAB_SOURCES, LabPaths
from .sh import need, run
from .specs import PROVIDER_INTERFACE

REPO_PORT = 8080
REPO_URL = f"http://{PROVIDER_INTERFACE.ip}:{REPO_PORT}/"
COMPONENT = "main"
_EPOCH = "1700000000"  # fixed mtimes: the same sources give byte-identical packages


@dataclass(frozen=True)
class Release:
    """One package version the repository carries."""

    package: str
    version: str
    suite: str
    baseline: bool
    values: tuple[tuple[str, str], ...]

    @property
    def filename(self) -> str:
        return f"{self.package}_{self.version}_all.deb"


def releases(sources: Path = LAB_SOURCES) -> list[Release]:
    """Every release declared under ``sources/packages/*/package.toml``."""
    found = []
    for spec in sorted((sources / "packages").glob("*/package.toml")):
        data = tomllib.loads(spec.read_text())
        for entry in data.get("release", []):
            values = tuple((k.upper(), str(v)) for k, v in entry.items())
            found.append(
                Release(
                    data["name"],
                    entry["version"],
                    entry["suite"],
                    bool(entry.get("baseline", False)),
                    values,
                )
            )
    if not found:
        raise LabError(f"no lab packages found under {sources / 'packages'}")
    return found


def sources_digest(sources: Path = LAB_SOURCES) -> str:
    """A hash over every file of the package sources (names, modes and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in (sources / "packages").rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(sources)}\0{path.stat().st_mode & 0o777}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_deb(release: Release, source: Path, out: Path, scratch: Path) -> Path:
    """Render ``source`` for ``release`` and pack it with dpkg-deb."""
    tree = scratch / f"{release.package}-{release.version}"
    shutil.copytree(source / "root", tree, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(source / "DEBIAN", tree / "DEBIAN", symlinks=True)
    for template in sorted(tree.rglob("*.in")):
        _render(template, dict(release.values))
    os.chmod(tree / "DEBIAN", 0o755)
    target = out / release.filename
    env = {**os.environ, "SOURCE_DATE_EPOCH": _EPOCH}
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(target)],
        check=True,
        capture_output=True,
        env=env,
    )
    return target


def _render(template: Path, values: dict[str, str]) -> None:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    rendered = template.with_suffix("")
    rendered.write_text(text)
    shutil.copymode(template, rendered)
    template.unlink()


def ensure_signing_key(paths: LabPaths) -> str:
    """The lab repository key's fingerprint; the key is made once per lab (ed25519)."""
    need("gpg", "gnupg")
    home = paths.gnupg
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not _fingerprint(home):
        run(
            _gpg(
                home,
                "--passphrase",
                "",
                "--quick-gen-key",
                "pbxops lab repository <lab@pbxops.invalid>",
                "ed25519",
                "sign",
                "never",
            )
        )
    fpr = _fingerprint(home)
    paths.repo_key.write_bytes(
        subprocess.run(_gpg(home, "--export", fpr), check=True, capture_output=True).stdout
    )
    return fpr


def _gpg(home: Path, *args: str) -> list[str]:
    return ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", *args]


def _fingerprint(home: Path) -> str:
    listing = run(_gpg(home, "--with-colons", "--list-secret-keys"), check=False).stdout
    for line in listing.splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    return ""


def stop_gpg_agent(paths: LabPaths) -> None:
    """Stop the gpg-agent of the lab's GNUPGHOME (found by its socket, not by name)."""
    if paths.gnupg.is_dir():
        run(["gpgconf", "--homedir", str(paths.gnupg), "--kill", "gpg-agent"], check=False)


def build_repository(
    paths: LabPaths,
    sources: Path = LAB_SOURCES,
    extra: Mapping[str, list[Path]] | None = None,
) -> dict[str, Path]:
    """Build, index and sign the repository under ``paths.repo``; returns the built .debs.
    ``extra``: ready-made .debs per suite to carry as well (the real Asterisk packages)."""
    extra = extra or {}
    need("apt-ftparchive", "apt-utils")
    need("dpkg-deb", "dpkg")
    stamp = paths.repo / ".sources"
    fpr = ensure_signing_key(paths)
    wanted = f"{sources_digest(sources)} {fpr}" + "".join(
        f" {suite}:{deb.name}" for suite, debs in sorted(extra.items()) for deb in debs
    )
    if stamp.is_file() and stamp.read_text() == wanted:
        return _built(paths.repo, releases(sources), extra)
    staging = paths.run / "repo.new"
    shutil.rmtree(staging, ignore_errors=True)
    built = _build_all(staging, sources)
    for suite, debs in extra.items():
        pool = staging / "pool" / suite
        pool.mkdir(parents=True, exist_ok=True)
        for deb in debs:
            _link_or_copy(deb, pool / deb.name)
            built[deb.name] = pool / deb.name
    for suite in sorted({r.suite for r in releases(sources)} | set(extra)):
        _index_suite(staging, suite, paths.gnupg, fpr)
    stop_gpg_agent(paths)
    (staging / ".sources").write_text(wanted)
    shutil.rmtree(paths.repo, ignore_errors=True)
    staging.rename(paths.repo)
    return {name: paths.repo / path.relative_to(staging) for name, path in built.items()}


def _built(
    repo: Path, all_releases: list[Release], extra: Mapping[str, list[Path]]
) -> dict[str, Path]:
    built = {r.filename: repo / "pool" / r.suite / r.filename for r in all_releases}
    for suite, debs in extra.items():
        built.update({deb.name: repo / "pool" / suite / deb.name for deb in debs})
    return built


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy(source, target)


def _build_all(staging: Path, sources: Path) -> dict[str, Path]:
    scratch = staging / ".build"
    built = {}
    for release in releases(sources):
        pool = staging / "pool" / release.suite
        pool.mkdir(parents=True, exist_ok=True)
        source = sources / "packages" / release.package
        built[release.filename] = build_deb(release, source, pool, scratch)
    shutil.rmtree(scratch)
    return built


def _index_suite(repo: Path, suite: str, gnupg: Path, fpr: str) -> None:
    dist = repo / "dists" / suite
    binary = dist / COMPONENT / "binary-amd64"
    binary.mkdir(parents=True)
    packages = run(["apt-ftparchive", "packages", f"pool/{suite}"], cwd=repo).stdout
    (binary / "Packages").write_text(packages)
    release = run(
        [
            "apt-ftparchive",
            "-o",
            f"APT::FTPArchive::Release::Suite={suite}",
            "-o",
            f"APT::FTPArchive::Release::Codename={suite}",
            "-o",
            "APT::FTPArchive::Release::Origin=pbxops-lab",
            "-o",
            "APT::FTPArchive::Release::Label=pbxops lab",
            "-o",
            "APT::FTPArchive::Release::Architectures=amd64 all",
            "-o",
            f"APT::FTPArchive::Release::Components={COMPONENT}",
            "release",
            ".",
        ],
        cwd=dist,
    ).stdout
    (dist / "Release").write_text(release)
    run(
        _gpg(
            gnupg,
            "--yes",
            "--local-user",
            fpr,
            "--clearsign",
            "-o",
            str(dist / "InRelease"),
            str(dist / "Release"),
        )
    )
    run(
        _gpg(
            gnupg,
            "--yes",
            "--local-user",
            fpr,
            "--armor",
            "--detach-sign",
            "-o",
            str(dist / "Release.gpg"),
            str(dist / "Release"),
        )
    )


def start_server(paths: LabPaths) -> int:
    """Serve the repository on the provider address of the bridge; returns the server's pid."""
    log = (paths.run / "repo-http.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(REPO_PORT),
            "--bind",
            str(PROVIDER_INTERFACE.ip),
            "--directory",
            str(paths.repo),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    return proc.pid


def apt_sources(image: str = "bookworm") -> str:
    """The deb822 sources file every lab host gets: the lab repository and nothing else
    (hosts of the Asterisk image also get its suite of real Asterisk packages)."""
    names = {r.suite for r in releases()} | ({"asterisk"} if image == "asterisk" else set())
    suites = " ".join(sorted(names))
    return (
        f"Types: deb\nURIs: {REPO_URL}\nSuites: {suites}\nComponents: {COMPONENT}\n"
        "Signed-By: /etc/apt/keyrings/pbxops-lab.gpg\n"
    )
