"""The release catalogue (``releases.yml``): PBX releases, OS upgrades, phone firmware."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Frozen
from .customer import Platform, Vendor


class Changes(Frozen):
    """What a release brings; shown in the plan and in customer reports."""

    bugfix: tuple[str, ...] = ()
    feature: tuple[str, ...] = ()
    legal: tuple[str, ...] = ()
    security: tuple[str, ...] = ()


class PbxRelease(Frozen):
    kind: Literal["pbx"]
    id: str
    platform: Platform
    version: str
    packages: dict[str, str] = Field(default_factory=dict)  # package -> pinned version
    min_os: str = "12"
    restart: bool = True
    config_changes: bool = False  # the release may change the PBX configuration digest
    changes: Changes = Changes()


class OsUpgrade(Frozen):
    kind: Literal["os"]
    id: str
    from_os: str  # e.g. "12" (any 12.x) or "12.7"
    to_os: str
    major: bool = False  # 12 -> 13: own pre-checks, full-upgrade, reboot
    suite: str = ""  # apt suite the upgrade comes from
    packages: dict[str, str] = Field(default_factory=dict)
    reboot: bool = True
    version_file: str = "/etc/debian_version"  # where the host states its OS release
    changes: Changes = Changes()


Release = Annotated[PbxRelease | OsUpgrade, Field(discriminator="kind")]


class Firmware(Frozen):
    vendor: Vendor
    model: str
    version: str
    url: str


class Catalog(Frozen):
    releases: tuple[Release, ...] = ()
    firmware: tuple[Firmware, ...] = ()

    def release(self, release_id: str) -> PbxRelease | OsUpgrade | None:
        return next((r for r in self.releases if r.id == release_id), None)

    def firmware_for(self, vendor: str, model: str) -> Firmware | None:
        return next((f for f in self.firmware if f.vendor == vendor and f.model == model), None)
