"""Customers, their sites, PBX systems and phones: what the provider maintains."""

from __future__ import annotations

import re
from datetime import date
from ipaddress import IPv4Address, IPv4Network
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ..platforms import PROFILES, check_profile
from .base import Frozen
from .contract import Contract
from .window import MaintenanceWindow, window_from_yaml

Platform = Literal["asterisk", "freepbx", "3cx"]
Deployment = Literal["virtual", "hardware"]
Vendor = Literal["yealink", "snom", "poly", "grandstream"]
RouterType = Literal["linux", "cisco_ios", "mikrotik_routeros"]

_MAC = re.compile(r"^[0-9a-f]{12}$")
_MAC_SEPARATORS = re.compile(r"[:\-.]")
_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
_HOSTNAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


def normalize_mac(value: str) -> str:
    """``80:5E:C0:11:22:33`` / ``805ec0-112233`` -> ``805ec0112233``; ValueError if malformed."""
    mac = str(value)
    if _MAC.fullmatch(mac):  # already normal (every MAC of a cached customer)
        return mac
    mac = _MAC_SEPARATORS.sub("", mac).lower()
    if not _MAC.fullmatch(mac):
        raise ValueError(f"malformed MAC address {value!r}: expected 12 hex digits")
    return mac


class Contact(Frozen):
    name: str = ""
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = None
    role: str = ""


class Licence(Frozen):
    kind: str = Field(min_length=1)
    count: int = Field(ge=0)


class HardwareItem(Frozen):
    item: str
    serial: str = ""
    cost: float = Field(ge=0)
    purchased: date | None = None


class Phone(Frozen):
    mac: str
    vendor: Vendor
    model: str = Field(min_length=1)
    extension: str = Field(pattern=r"^[0-9]{2,8}$")
    display_name: str = ""
    language: str | None = None

    @field_validator("mac", mode="before")
    @classmethod
    def _mac(cls, value: object) -> str:
        return normalize_mac(str(value))


class EdgeRouter(Frozen):
    hostname: str = Field(pattern=_HOSTNAME)
    address: IPv4Address
    device_type: RouterType = "linux"


class Site(Frozen):
    id: str = Field(pattern=_ID)
    name: str = ""
    subnet: IPv4Network
    edge_router: EdgeRouter | None = None


class System(Frozen):
    """One PBX: a hosted (virtual) instance or a server on the customer's premises."""

    hostname: str = Field(pattern=_HOSTNAME)
    site: str
    address: IPv4Address
    platform: Platform
    # The PBX platform profile (orchestrator/platforms.py); default: the platform's own.
    pbx_profile: str | None = None
    deployment: Deployment
    os_release: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?$")
    licences: tuple[Licence, ...] = ()
    extensions: int = Field(ge=0)
    maintenance_window: MaintenanceWindow
    hardware: tuple[HardwareItem, ...] = ()
    phones: tuple[Phone, ...] = ()
    internal: bool = False  # the provider's own/test system: first in every canary

    @field_validator("maintenance_window", mode="before")
    @classmethod
    def _window(cls, value: object) -> object:
        return window_from_yaml(value)

    @field_validator("pbx_profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None and value not in PROFILES:
            raise ValueError(f"unknown PBX profile {value!r} (known: {', '.join(PROFILES)})")
        return value

    @model_validator(mode="after")
    def _profile_fits_platform(self) -> System:
        problem = check_profile(self.profile_name, self.platform)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def profile_name(self) -> str:
        """The PBX platform profile this system is driven with."""
        return self.pbx_profile or self.platform

    @property
    def os_major(self) -> int:
        return int(self.os_release.split(".")[0])

    @property
    def hardware_cost(self) -> float:
        return sum(h.cost for h in self.hardware)


class Customer(Frozen):
    id: str = Field(pattern=_ID)
    name: str
    timezone: str
    language: str = "en"
    contacts: tuple[Contact, ...] = Field(min_length=1)
    sites: tuple[Site, ...] = Field(min_length=1)
    systems: tuple[System, ...] = ()
    contracts: tuple[Contract, ...] = ()
    ntp_server: str = "pool.ntp.org"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown timezone {value!r} (use an IANA name like Europe/Berlin)"
            raise ValueError(msg) from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)

    def contracts_for(self, hostname: str) -> tuple[Contract, ...]:
        """Contracts that cover this system (a contract without ``systems`` covers all)."""
        return tuple(c for c in self.contracts if not c.systems or hostname in c.systems)
