"""The lab's real-Asterisk releases: repacking a .deb under a lab version (dpkg-deb, real
packages built here), the repack file, and the image recipe (pure logic; the image and the
waves on it are tested in tests/lab/test_asterisk_lab.py)."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from orchestrator.errors import LabError
from orchestrator.lab import asterisk, rootfs

UP = "1:22.10.1+dfsg-1"


def _deb(tmp_path: Path, package: str, depends: str) -> Path:
    tree = tmp_path / f"src-{package}"
    (tree / "DEBIAN").mkdir(parents=True)
    modules = tree / "usr/lib/x86_64-linux-gnu/asterisk/modules"
    modules.mkdir(parents=True)
    for name in ("res_pjsip.so", "chan_pjsip.so"):
        (modules / name).write_bytes(b"\x7fELF")
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {UP}\nArchitecture: amd64\nMaintainer: t <t@t.invalid>\n"
        f"Depends: {depends}\nDescription: test\n"
    )
    (tree / "DEBIAN/md5sums").write_text(
        "00  usr/lib/x86_64-linux-gnu/asterisk/modules/res_pjsip.so\n"
        "11  usr/lib/x86_64-linux-gnu/asterisk/modules/chan_pjsip.so\n"
    )
    out = tmp_path / f"{package}_orig.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)],
                   check=True, capture_output=True)
    return out


def _field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "--field", str(deb), name], capture_output=True,
                          text=True, check=True).stdout.strip()


def _files(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True,
                          check=True).stdout


def _spec() -> asterisk.Repack:
    return asterisk.Repack(UP, ("asterisk", "asterisk-modules"), "asterisk",
                           ((f"{UP}+lab1", ""), (f"{UP}+lab2", "no-pjsip")))


def test_a_repack_gets_the_lab_version_and_its_exact_dependencies(tmp_path: Path) -> None:
    orig = _deb(tmp_path, "asterisk", f"asterisk-modules (= {UP}), libc6 (>= 2.38)")
    out = tmp_path / "out"
    out.mkdir()
    deb = asterisk._repack(orig, _spec(), f"{UP}+lab1", "", out)
    assert deb.name == "asterisk_22.10.1+dfsg-1+lab1_amd64.deb"
    assert _field(deb, "Version") == f"{UP}+lab1"
    assert _field(deb, "Depends") == f"asterisk-modules (= {UP}+lab1), libc6 (>= 2.38)"
    assert "res_pjsip.so" in _files(deb)


def test_the_broken_release_leaves_pjsip_out(tmp_path: Path) -> None:
    orig = _deb(tmp_path, "asterisk-modules", "libc6")
    out = tmp_path / "out"
    out.mkdir()
    deb = asterisk._repack(orig, _spec(), f"{UP}+lab2", "no-pjsip", out)
    assert "res_pjsip.so" not in _files(deb) and "chan_pjsip.so" in _files(deb)
    unpacked = tmp_path / "unpacked"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(unpacked)], check=True)
    assert "res_pjsip.so" not in (unpacked / "DEBIAN/md5sums").read_text()
    with pytest.raises(LabError, match="unknown breakage 'no-audio'"):
        asterisk._repack(orig, _spec(), f"{UP}+lab2", "no-audio", out)


def test_the_repack_file_lists_the_original_first_and_one_broken_release() -> None:
    spec = asterisk.Repack.load()
    raw = tomllib.loads(asterisk.REPACK_FILE.read_text())  # the file, read independently
    assert spec.upstream == raw["upstream"]
    assert spec.releases == tuple((r["version"], r.get("broken", "")) for r in raw["release"])
    assert spec.versions == (raw["upstream"], *(r["version"] for r in raw["release"]))
    assert all(v.startswith(spec.upstream + "+lab") for v, _ in spec.releases)
    for older, newer in zip(spec.versions, spec.versions[1:], strict=False):  # apt's order
        assert subprocess.run(["dpkg", "--compare-versions", older, "lt", newer]).returncode == 0
    assert [b for _, b in spec.releases].count("no-pjsip") == 1
    assert spec.packages[0] == "asterisk"


def test_a_bad_repack_file_is_a_lab_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "repack.toml"
    bad.write_text("upstream = 1\n")
    with pytest.raises(LabError, match=r"repack\.toml: not a usable Asterisk repack file"):
        asterisk.Repack.load(bad)


def test_the_asterisk_image_is_its_own_cache_entry() -> None:
    recipe = asterisk.recipe()
    assert recipe.suite == "sid" and "asterisk" in recipe.packages
    assert recipe.key != rootfs.Recipe.default().key
    assert "pjsip.conf" in recipe.customise and "extensions.conf" in recipe.customise
