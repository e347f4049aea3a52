"""The lab end to end: ssh with host-key checking, SIP, signed apt updates, calls, reboot,
faults, and a teardown that leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator import lab
from orchestrator.lab.core import ssh_ready
from orchestrator.settings import Settings
from orchestrator.sipprobe import probe

from .conftest import eventually

pytestmark = pytest.mark.lab


def ssh(settings: Settings, host: str, command: str) -> subprocess.CompletedProcess[str]:
    argv = lab.ssh_argv(lab.LabPaths.of(settings), host, [command])
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def apt_install(settings: Settings, host: str, version: str) -> subprocess.CompletedProcess[str]:
    return ssh(
        settings,
        host,
        "sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive "
        f"apt-get install -y -q labpbx={version}",
    )


def addresses(state: lab.LabState) -> dict[str, str]:
    return {h.name: h.address for h in state.hosts}


def test_ssh_checks_the_host_keys_the_lab_wrote(lab3: lab.LabState, lab_settings: Settings) -> None:
    paths = lab.LabPaths.of(lab_settings)
    config = paths.ssh_config.read_text()
    assert "StrictHostKeyChecking yes" in config and "StrictHostKeyChecking no" not in config
    for host in lab3.hosts:
        done = ssh(lab_settings, host.name, "hostname && sudo -n true && echo sudo-ok")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [host.name, "sudo-ok"]


def test_a_wrong_host_key_is_refused(
    lab3: lab.LabState, lab_settings: Settings, tmp_path: Path
) -> None:
    paths = lab.LabPaths.of(lab_settings)
    lines = paths.known_hosts.read_text().splitlines()
    swapped = [
        lines[1].split()[0] + " " + " ".join(lines[0].split()[1:])
    ]  # lab-02 with lab-01's key
    (tmp_path / "known_hosts").write_text("\n".join(swapped) + "\n")
    argv = lab.ssh_argv(paths, "lab-02", ["true"])
    argv[1:1] = ["-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in done.stderr


def test_every_host_answers_sip_200_with_the_baseline(lab3: lab.LabState) -> None:
    for address in addresses(lab3).values():
        result = probe(address)
        assert (result.status, result.version) == (200, "18.0.0"), result


def test_apt_trusts_only_the_lab_key(lab3: lab.LabState, lab_settings: Settings) -> None:
    done = ssh(
        lab_settings, "lab-01", "cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list"
    )
    assert "Signed-By: /etc/apt/keyrings/pbxops-lab.gpg" in done.stdout
    assert "trusted" not in done.stdout.lower()


def test_minor_update_from_the_signed_repository_shows_in_sip(
    lab3: lab.LabState, lab_settings: Settings
) -> None:
    done = apt_install(lab_settings, "lab-01", "18.1.0")
    assert done.returncode == 0, done.stderr
    assert "NO_PUBKEY" not in done.stderr and "not signed" not in done.stderr
    result = eventually(lambda: (r := probe(addresses(lab3)["lab-01"])).version == "18.1.0" and r)
    assert result and result.status == 200
    assert ssh(lab_settings, "lab-01", "labpbx-cli version").stdout.strip() == "18.1.0"


def test_broken_release_installs_but_fails_the_probe(
    lab3: lab.LabState, lab_settings: Settings
) -> None:
    done = apt_install(lab_settings, "lab-02", "18.2.0")
    assert done.returncode == 0, done.stderr
    result = eventually(lambda: (r := probe(addresses(lab3)["lab-02"])).version == "18.2.0" and r)
    assert result and result.status == 503 and not result.ok


def test_os_point_release_is_in_its_own_suite(lab3: lab.LabState, lab_settings: Settings) -> None:
    before = ssh(lab_settings, "lab-02", "cat /etc/pbxops-os-release").stdout.strip()
    done = ssh(
        lab_settings, "lab-02", "sudo apt-get install -y -q -t bookworm-pbxops-point lab-os-release"
    )
    assert done.returncode == 0, done.stderr
    after = ssh(lab_settings, "lab-02", "cat /etc/pbxops-os-release").stdout.strip()
    assert (before, after) == ("12.7", "12.8")


def test_a_held_call_is_counted_until_hangup(lab3: lab.LabState, lab_settings: Settings) -> None:
    def calls() -> str:
        return ssh(lab_settings, "lab-03", "sudo labpbx-cli calls").stdout.strip()

    assert calls() == "0 active calls"
    with lab.hold_call(addresses(lab3)["lab-03"]):
        assert calls() == "1 active calls"
    assert eventually(lambda: calls() == "0 active calls", timeout=10)


def test_a_rebooted_host_comes_back(lab3: lab.LabState, lab_settings: Settings) -> None:
    assert ssh(lab_settings, "lab-03", "sudo touch /run/before-reboot").returncode == 0
    lab.inject_fault(lab_settings, "lab-03", "reboot")
    address = addresses(lab3)["lab-03"]
    gone = ssh(lab_settings, "lab-03", "test -e /run/before-reboot")
    back = eventually(
        lambda: ssh(lab_settings, "lab-03", "test ! -e /run/before-reboot").returncode == 0,
        timeout=90,
    )
    assert gone.returncode != 0 or back  # either caught it down, or it is already back
    assert back
    assert eventually(lambda: probe(address).ok, timeout=30)


def test_faults_break_and_clearing_repairs(lab3: lab.LabState, lab_settings: Settings) -> None:
    address = addresses(lab3)["lab-01"]
    lab.inject_fault(lab_settings, "lab-01", "sip-hang")
    assert probe(address, timeout=0.5).status is None
    lab.clear_fault(lab_settings, "lab-01", "sip-hang")
    assert eventually(lambda: probe(address).ok, timeout=10)
    lab.inject_fault(lab_settings, "lab-01", "network-down")
    assert not ssh_ready(address, timeout=0.5)
    lab.clear_fault(lab_settings, "lab-01", "network-down")
    assert eventually(lambda: ssh_ready(address), timeout=10)


def test_disk_full_and_unreachable_repo_make_apt_fail(
    lab3: lab.LabState, lab_settings: Settings
) -> None:
    lab.inject_fault(lab_settings, "lab-01", "repo-unreachable")
    try:
        done = ssh(lab_settings, "lab-01", "sudo apt-get update -q 2>&1")
        assert "Unable to connect" in done.stdout or "Failed to fetch" in done.stdout
    finally:
        lab.clear_fault(lab_settings, "lab-01", "repo-unreachable")
    lab.inject_fault(lab_settings, "lab-01", "disk-full")
    try:
        done = ssh(lab_settings, "lab-01", "df --output=avail / | tail -1")
        assert done.stdout.strip() == "0"
    finally:
        lab.clear_fault(lab_settings, "lab-01", "disk-full")


def test_up_twice_is_harmless(lab3: lab.LabState, lab_settings: Settings) -> None:
    paths = lab.LabPaths.of(lab_settings)

    def supervisors() -> list[str]:
        return sorted(p.read_text() for p in paths.run.glob("hosts/*/supervisor.pid"))

    before = supervisors()
    lab.up(lab_settings, lab.synthetic_specs(3))
    assert supervisors() == before  # nothing was restarted
    assert all(h.running and h.sip_status for h in lab.lab_status(lab_settings))


def test_down_leaves_no_namespace_mount_link_or_process(
    lab3: lab.LabState, lab_settings: Settings
) -> None:
    paths = lab.LabPaths.of(lab_settings)
    pids = [int(p.read_text()) for p in paths.run.glob("hosts/*/*.pid")]
    assert pids
    assert lab.down(lab_settings) == 3
    assert not any(n.startswith("pbxlab-") for n in _netns())
    links = os.listdir("/sys/class/net")
    assert not [n for n in links if n.startswith(("pbxl-", "pbxlab"))]
    assert str(paths.run) not in Path("/proc/self/mounts").read_text()
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    assert not list(Path("/sys/fs/cgroup").glob("*/pbxops-lab"))


def _netns() -> list[str]:
    netns = Path("/run/netns")
    return os.listdir(netns) if netns.is_dir() else []
