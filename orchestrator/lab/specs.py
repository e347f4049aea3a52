"""Which hosts a lab runs: from the contract book, or N synthetic ones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from ..errors import LabError

PROVIDER_INTERFACE = IPv4Interface("10.209.0.1/24")
"""The provider side on the lab bridge: apt repository, later the VPN hub and SMTP."""

IMAGES = ("bookworm", "asterisk")
"""The lab's host images: ``bookworm`` (rootfs.py; LabPBX, the fast stand-in) and
``asterisk`` (asterisk.py: Debian sid with the real Debian Asterisk package)."""

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class HostSpec:
    """One lab host: its name, address and the network it sits in."""

    name: str
    address: IPv4Address
    subnet: IPv4Network
    binds: tuple[str, ...] = ()  # host directories mounted read-only at the same path
    image: str = "bookworm"  # host image: bookworm, or asterisk (real Asterisk on sid)
    debian: bool = False  # takes real Debian packages via the lab's proxy (aptproxy.py)

    @property
    def gateway(self) -> IPv4Address:
        """The subnet's first usable address; the lab puts it on the bridge."""
        return next(self.subnet.hosts())

    @property
    def interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.address}/{self.subnet.prefixlen}")

    @property
    def machine(self) -> str:
        """A machine name nspawn accepts (the first label of the hostname)."""
        return self.name.split(".")[0]


def validate(specs: list[HostSpec]) -> list[HostSpec]:
    """Refuse lab host lists that would collide or escape the lab networks."""
    if not specs:
        raise LabError("no hosts to start")
    seen: dict[str, str] = {}
    for spec in specs:
        _check_one(spec)
        for key in (spec.machine, str(spec.address)):
            if key in seen:
                raise LabError(f"{spec.name}: {key} already used by {seen[key]}")
            seen[key] = spec.name
    return specs


def _check_one(spec: HostSpec) -> None:
    if not _NAME_RE.match(spec.machine):
        raise LabError(f"{spec.name}: not usable as a lab machine name")
    if spec.address not in spec.subnet or spec.address == spec.gateway:
        raise LabError(f"{spec.name}: {spec.address} is not a host address of {spec.subnet}")
    if spec.image not in IMAGES:
        raise LabError(f"{spec.name}: unknown lab image {spec.image!r} (known: {', '.join(IMAGES)})")
    if spec.subnet.overlaps(PROVIDER_INTERFACE.network):
        raise LabError(f"{spec.name}: {spec.subnet} overlaps the provider network")


def synthetic_specs(count: int) -> list[HostSpec]:
    """``lab-01`` ... ``lab-NN``: up to 200 hosts per /24, 10.210.0.0/24 upward."""
    if not 1 <= count <= 2000:
        raise LabError("--hosts must be between 1 and 2000")
    specs = []
    for i in range(count):
        subnet = IPv4Network(f"10.210.{i // 200}.0/24")
        address = subnet.network_address + 10 + i % 200
        specs.append(HostSpec(f"lab-{i + 1:02d}", address, subnet))
    return specs


def specs_from_book(path: Path | str) -> list[HostSpec]:
    """One lab host per PBX system in the contract book at ``path``: systems driven with the
    real ``asterisk`` profile run the Asterisk image, all others the bookworm image."""
    from ..fleet import load_book

    fleet = load_book(path)
    return [
        HostSpec(h.hostname, h.address, h.subnet, image=image_for(h.system.profile_name))
        for h in fleet.hosts()
    ]


def image_for(profile: str) -> str:
    """The lab image a system driven with PBX profile ``profile`` runs on."""
    return "asterisk" if profile == "asterisk" else "bookworm"
