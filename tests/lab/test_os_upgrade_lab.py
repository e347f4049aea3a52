"""Real Debian upgrades through `pbxops wave` on a lab host that takes real Debian packages
(through the lab's apt-cacher-ng on the provider side; the host reaches nothing else):

- a point upgrade: the host's image is debootstrapped from plain ``bookworm``; the wave
  installs what bookworm-updates and bookworm-security have newer (real packages, real
  versions, checked against apt's own candidates read before the wave), reboots, and a
  second wave finds nothing left: verify only;
- the major upgrade bookworm -> trixie: pre-checks, backup (/etc, package selection),
  sources switched, apt-get full-upgrade, reboot, the PBX (LabPBX on trixie's Kamailio)
  answering SIP, post-checks; then the lab's rollback: the snapshot of the host's writable
  layer taken before the upgrade puts bookworm back.

A cold proxy cache downloads the packages once (see docs/lab.md); later runs read them
from the lab cache dir.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from orchestrator import app, lab
from orchestrator.lab import aptproxy
from orchestrator.planner import PlanOptions
from orchestrator.settings import Settings, load_settings
from orchestrator.sipprobe import probe

from .books import REPO, customer, write_book
from .conftest import TEST_RUN_DIR, eventually, running_lab
from .waves import PBXOPS, cli, cli_env

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.environ.get("PBXOPS_STRATEGY") == "linear",
                       reason="apt, dpkg and the reboot do not depend on the Ansible strategy: "
                              "run once, under the default"),
]

HOST, ADDRESS = "deb-pbx", "10.210.77.10"
INIT_STARTED = ["sh", "-c", "cut -d' ' -f22 /proc/1/stat"]  # the container's PID 1 start


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("osup")
    book = write_book(root / "book", [customer("deb", "10.210.77.0/24", {HOST: ADDRESS})])
    settings = load_settings(args={
        "book": str(book), "state_dir": str(root / "state"), "lab_run_dir": TEST_RUN_DIR,
        "smtp_port": 1, "ledger_url": f"sqlite:///{root}/ledger.sqlite"})
    specs = [dataclasses.replace(s, debian=True) for s in lab.specs_from_book(book)]
    with running_lab(settings, specs):
        yield settings.model_copy(update={"ssh_config": lab.LabPaths.of(settings).ssh_config})


def _in(s: Settings, *argv: str) -> str:
    return lab.run_in_host(s, HOST, list(argv)).strip()


def _versions(s: Settings) -> dict[str, str]:
    out = _in(s, "dpkg-query", "-W", "-f=${Package} ${Version}\n")
    return dict(line.split(" ", 1) for line in out.splitlines())


def _wave(s: Settings, release: str) -> tuple[int, dict[str, object]]:
    wave_id, _ = app.plan_wave(s, release, options=PlanOptions(customers=("deb",),
                                                              canary_size=0))
    assert wave_id is not None
    code, result, tail = cli(s, "wave", "run", str(wave_id), "--ignore-windows")
    report = {r["host"]: r for r in app.wave_report(s, wave_id)}[HOST]
    assert code == 0 and result["hosts"][HOST] in ("done", "already_at_target"), tail
    return wave_id, report


def _lab_cli(s: Settings, *args: str) -> dict[str, object]:
    out = subprocess.run([*PBXOPS, "lab", *args, "--json"], env=cli_env(s), cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _pbx_answers(s: Settings) -> bool:
    return probe(ADDRESS, timeout=3).status == 200


def test_the_host_reaches_debian_only_through_the_proxy(deb: Settings) -> None:
    sources = _in(deb, "cat", "/etc/apt/sources.list.d/debian.sources")
    assert f"URIs: {aptproxy.PROXY_URL}/debian\n" in sources
    mirror = urlsplit(aptproxy.mirrors()[0]).hostname
    assert mirror
    address = socket.gethostbyname(mirror)  # resolved here: the host has no DNS either
    direct = _in(deb, "python3", "-c", "import socket; s = socket.socket(); s.settimeout(3); "
                 f"print(s.connect_ex(({address!r}, 80)))")
    assert direct != "0", f"the host reached the mirror {mirror} ({address}) directly"
    via_proxy = (  # the proxy as a general web proxy: refused (ForceManaged)
        "import urllib.error, urllib.request as u\n"
        f"p = u.build_opener(u.ProxyHandler({{'http': '{aptproxy.PROXY_URL}'}}))\n"
        "try: print(p.open('http://example.org/', timeout=5).status)\n"
        "except urllib.error.HTTPError as e: print(e.code)\n")
    other = _in(deb, "python3", "-c", via_proxy)
    assert other == "403", "the proxy fetched something that is not Debian's archive"


def test_point_upgrade_installs_real_updates_and_security_fixes(deb: Settings) -> None:
    s = deb
    _in(s, "apt-get", "update", "-q")
    pending = _in(s, "sh", "-c", "apt-get -s -q full-upgrade | awk '/^Inst /{print $2, $4}'")
    candidates = {n: v.strip("(") for n, v in (line.split() for line in pending.splitlines())}
    assert candidates, "the plain-bookworm image has no pending updates: this test proves nothing"
    before, boot = _versions(s), _in(s, *INIT_STARTED)
    _, report = _wave(s, "debian-12-updates")
    after = _versions(s)
    for package, version in candidates.items():
        assert after.get(package) == version != before.get(package), package
    assert report["status"] == "done", report
    print(f"point upgrade: {len(candidates)} packages in {report['seconds']} s")  # figures
    assert report["version_after"] == _in(s, "cat", "/etc/debian_version")
    assert str(report["version_after"]).startswith("12.")
    assert _in(s, *INIT_STARTED) != boot, "the host rebooted"
    assert eventually(lambda: _pbx_answers(s), 30), "the PBX came back after the reboot"
    _, again = _wave(s, "debian-12-updates")  # nothing left: verify only, no reboot
    assert again["status"] == "already_at_target", again


def test_major_upgrade_to_trixie_reboots_runs_the_pbx_and_rolls_back_by_snapshot(
        deb: Settings) -> None:
    s = deb
    taken = _lab_cli(s, "snapshot", HOST, "before-13")  # as an engineer does, by pbxops
    assert Path(str(taken["path"])).is_dir(), taken
    release_before, boot = _in(s, "cat", "/etc/debian_version"), _in(s, *INIT_STARTED)
    wave_id, report = _wave(s, "debian-13")
    assert report["status"] == "done", report
    print(f"major upgrade: {report['seconds']} s on {HOST}")  # figures for docs/lab.md
    assert "VERSION_CODENAME=trixie" in _in(s, "cat", "/etc/os-release")
    release_after = _in(s, "cat", "/etc/debian_version")
    assert release_after.startswith("13."), release_after
    assert (report["version_before"], report["version_after"]) == (release_before, release_after)
    assert _in(s, *INIT_STARTED) != boot, "the host rebooted"
    assert _versions(s)["base-files"].startswith("13."), "base-files is trixie's"
    sources = _in(s, "cat", "/etc/apt/sources.list.d/debian.sources")
    assert "trixie trixie-updates" in sources and "trixie-security" in sources
    assert "labpbx" in _in(s, "cat", "/etc/apt/sources.list.d/pbxops-lab.sources"), (
        "the lab repository's suites were left alone")
    backup_dir = str(report["backup"]).rsplit("/", 1)[0]
    assert backup_dir, report
    assert _in(s, "tar", "-tzf", f"{backup_dir}/etc-{release_before}.tar.gz",
               "etc/apt/sources.list.d/debian.sources") == "etc/apt/sources.list.d/debian.sources"
    assert _in(s, "systemctl", "is-active", "labpbx") == "active"
    assert eventually(lambda: _pbx_answers(s), 30), "the PBX answers SIP on trixie"
    assert probe(ADDRESS, timeout=3).version == _in(s, "dpkg-query", "-W", "-f=${Version}",
                                                    "labpbx")

    assert _lab_cli(s, "restore", HOST, "before-13")["restored"] is True
    assert _in(s, "cat", "/etc/debian_version") == release_before
    assert "VERSION_CODENAME=bookworm" in _in(s, "cat", "/etc/os-release")
    assert eventually(lambda: _pbx_answers(s), 30), "the PBX answers again on bookworm"
    assert wave_id
