"""The lab's Debian proxy configuration: upstreams from this machine's deb822 sources (no host
name built in), listening on the provider address only, Debian's archives only."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import LabError
from orchestrator.lab import aptproxy
from orchestrator.lab.paths import LabPaths

BOTH = """Types: deb
# a comment: URIs: http://not-this.example/debian
URIs: http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.example.net/debian-security
Suites: bookworm-security
Components: main
"""


def _sources(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "debian.sources"
    path.write_text(text)
    return path


def test_archive_and_security_come_from_the_machines_sources(tmp_path: Path) -> None:
    assert aptproxy.mirrors(_sources(tmp_path, BOTH)) == (
        "http://mirror.example.org/debian", "http://security.example.net/debian-security")


def test_without_a_security_entry_the_archives_host_serves_it(tmp_path: Path) -> None:
    only = "Types: deb\nURIs: https://mirror.example.org/debian\nSuites: bookworm\n"
    assert aptproxy.mirrors(_sources(tmp_path, only)) == (
        "https://mirror.example.org/debian", "https://mirror.example.org/debian-security")


@pytest.mark.parametrize("text", ["", "Types: deb\nSuites: bookworm\n", "URIs:   \n"])
def test_no_mirror_is_a_clear_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(LabError, match="no Debian mirror configured"):
        aptproxy.mirrors(_sources(tmp_path, text))


def test_a_missing_sources_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="cannot read"):
        aptproxy.mirrors(tmp_path / "nothing.sources")


def test_the_proxy_listens_on_the_provider_address_for_debian_only(tmp_path: Path) -> None:
    paths = LabPaths(cache=tmp_path / "cache", run=tmp_path / "run")
    conf = aptproxy.write_config(paths, _sources(tmp_path, BOTH)) / "acng.conf"
    lines = dict(line.split(": ", 1) for line in conf.read_text().splitlines()
                 if not line.startswith("#"))
    assert lines["BindAddress"] == "10.209.0.1" and lines["Port"] == str(aptproxy.PROXY_PORT)
    assert lines["CacheDir"] == str(tmp_path / "cache" / "apt-cacher-ng")  # survives down
    assert lines["Remap-debrep"] == "/debian ; http://mirror.example.org/debian"
    assert lines["Remap-secdeb"] == "/debian-security ; http://security.example.net/debian-security"
    assert lines["ForceManaged"] == "1" and lines["PassThroughPattern"] == "^$"


def test_host_sources_point_at_the_proxy_with_debians_keys() -> None:
    text = aptproxy.debian_sources("bookworm")
    assert f"URIs: {aptproxy.PROXY_URL}/debian\nSuites: bookworm bookworm-updates\n" in text
    assert f"URIs: {aptproxy.PROXY_URL}/debian-security\nSuites: bookworm-security\n" in text
    assert text.count("Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg") == 2


def test_a_proxy_that_cannot_open_its_log_is_a_lab_error(tmp_path: Path) -> None:
    paths = LabPaths(cache=tmp_path / "cache", run=tmp_path / "run")
    (aptproxy.config_dir(paths) / "console.log").mkdir(parents=True)  # not a file
    with pytest.raises(LabError, match=r"apt-cacher-ng not started: .*console\.log"):
        aptproxy.start(paths)
