"""Lab host lists, the mirror lookup and the repository sources, without starting a lab."""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from orchestrator.errors import LabError
from orchestrator.lab import repo, rootfs
from orchestrator.lab.core import host_states
from orchestrator.lab.specs import HostSpec, specs_from_book, synthetic_specs, validate


def spec(name: str, address: str, subnet: str = "10.210.3.0/24") -> HostSpec:
    return HostSpec(name, IPv4Address(address), IPv4Network(subnet))


def test_gateway_is_the_first_usable_address() -> None:
    assert str(spec("pbx1", "10.210.3.10").gateway) == "10.210.3.1"


def test_synthetic_hosts_fill_200_per_subnet() -> None:
    specs = synthetic_specs(201)
    assert (specs[0].name, str(specs[0].address)) == ("lab-01", "10.210.0.10")
    assert str(specs[200].address) == "10.210.1.10"
    assert validate(specs) == specs


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "no hosts"),
        ([spec("a", "10.210.3.10"), spec("b", "10.210.3.10")], "already used"),
        ([spec("a", "10.210.3.10"), spec("a.other", "10.210.3.11")], "already used"),
        ([spec("a", "10.210.3.1")], "not a host address"),
        ([spec("a", "10.210.4.10")], "not a host address"),
        ([spec("a", "10.209.0.10", "10.209.0.0/24")], "provider network"),
        ([spec("Bad_Name", "10.210.3.10")], "machine name"),
    ],
)
def test_unusable_host_lists_are_refused(specs: list[HostSpec], message: str) -> None:
    with pytest.raises(LabError, match=message):
        validate(specs)


def test_names_of_lab_resources_are_prefixed_and_distinct() -> None:
    states = host_states([spec("pbx1.acme.example", "10.210.3.10"), spec("pbx2", "10.210.3.11")])
    assert [(s.machine, s.netns, s.veth) for s in states] == [
        ("pbx1", "pbxlab-pbx1", "pbxl-1"),
        ("pbx2", "pbxlab-pbx2", "pbxl-2"),
    ]


def test_specs_from_the_book_use_hostname_address_and_subnet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @dataclass
    class System:
        profile_name: str

    @dataclass
    class Ref:
        hostname: str
        address: IPv4Address
        subnet: IPv4Network
        system: System

    class FakeFleet:
        def hosts(self) -> list[Ref]:
            return [Ref("pbx1", IPv4Address("10.210.3.10"), IPv4Network("10.210.3.0/24"),
                        System("labpbx")),
                    Ref("pbx2", IPv4Address("10.210.3.11"), IPv4Network("10.210.3.0/24"),
                        System("asterisk"))]

    monkeypatch.setattr("orchestrator.fleet.load_book", lambda path: FakeFleet())
    real = replace(spec("pbx2", "10.210.3.11"), image="asterisk")  # real Asterisk: sid image
    assert specs_from_book("anywhere") == [spec("pbx1", "10.210.3.10"), real]


def test_mirror_is_read_from_the_uris_line(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "# URIs: http://commented.invalid\nTypes: deb\nURIs: http://mirror.invalid/debian\n"
    )
    assert rootfs.mirror_url(sources) == "http://mirror.invalid/debian"


def test_missing_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no Debian mirror configured"):
        rootfs.mirror_url(tmp_path / "absent.sources")
    (tmp_path / "empty.sources").write_text("Types: deb\n")
    with pytest.raises(LabError, match="no URIs"):
        rootfs.mirror_url(tmp_path / "empty.sources")


def test_recipe_hash_changes_with_packages_or_script() -> None:
    base = rootfs.Recipe(customise="a")
    assert base.key != rootfs.Recipe(customise="b").key
    assert base.key != rootfs.Recipe(packages=("systemd",), customise="a").key
    assert base.base_key == rootfs.Recipe(customise="b").base_key


def test_the_repository_carries_baseline_minor_broken_major_and_point_release() -> None:
    found = {(r.package, r.version): r for r in repo.releases()}
    assert {"18.0.0", "18.1.0", "18.2.0", "19.0.0"} <= {v for p, v in found if p == "labpbx"}
    assert found[("labpbx", "18.0.0")].baseline
    assert "LABPBX_HEALTH_FAILS" in dict(found[("labpbx", "18.2.0")].values)["BUILD_DEFINES"]
    assert found[("lab-os-release", "12.8")].suite == "bookworm-pbxops-point"


def test_hosts_trust_the_lab_repository_by_signed_by_only() -> None:
    sources = repo.apt_sources()
    assert "Signed-By: /etc/apt/keyrings/pbxops-lab.gpg" in sources
    assert "trusted" not in sources.lower()
