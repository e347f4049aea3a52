"""The release catalogue (``releases.yml``): PBX releases, OS upgrades, phone firmware.

Everything a release hands to the roles (package names and versions, apt suite, OS releases,
the version file) is checked here against the rules of the tools that read it, so book text
can never become anything but a package, a version or a path on a host.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from .base import Frozen
from .customer import Platform, Vendor

# Debian Policy 5.6.1: lower case letters, digits, + - . ; at least two characters,
# starting with a letter or digit.
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
# Debian Policy 5.6.12: [epoch:]upstream_version[-debian_revision]. The upstream version
# starts with a digit and holds letters, digits and . + ~ (and - only when a revision
# follows: the revision is what follows the last -, letters, digits and + . ~).
_VERSION = re.compile(
    r"(?:[0-9]+:)?(?:[0-9][A-Za-z0-9.+~]*|[0-9][A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]+)"
)
_OS_RELEASE = re.compile(r"[0-9]+(?:\.[0-9]+)*")  # "12", "12.8"
_SUITE = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9.+_-]*)?")  # apt suite or codename; "": none
_ABS_PATH = re.compile(r"/[A-Za-z0-9._+/-]*")


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value) or len(value) > 200:
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


PackageName = Annotated[
    str,
    _matching(
        _PACKAGE,
        "a Debian package name (lower case letters, digits, + - . ; at least 2 characters, "
        "starting with a letter or digit)",
    ),
]
DebianVersion = Annotated[
    str,
    _matching(
        _VERSION,
        "a Debian version ([epoch:]upstream[-revision], starting with a digit; letters, "
        "digits and . + ~ -)",
    ),
]
OsRelease = Annotated[str, _matching(_OS_RELEASE, "a Debian release number such as 12 or 12.8")]
Suite = Annotated[str, _matching(_SUITE, "an apt suite name")]


def _host_path(value: str) -> str:
    if not _ABS_PATH.fullmatch(value) or "/../" in f"{value}/" or len(value) > 200:
        raise ValueError(f"{value!r} is not an absolute path of letters, digits and . _ + - /")
    return value


HostPath = Annotated[str, AfterValidator(_host_path)]
Packages = dict[PackageName, DebianVersion]


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
    version: DebianVersion
    packages: Packages = Field(default_factory=dict)  # package -> pinned version
    min_os: OsRelease = "12"
    restart: bool = True
    config_changes: bool = False  # the release may change the PBX configuration digest
    changes: Changes = Changes()


class OsUpgrade(Frozen):
    kind: Literal["os"]
    id: str
    from_os: OsRelease  # e.g. "12" (any 12.x) or "12.7"
    to_os: OsRelease
    major: bool = False  # 12 -> 13: own pre-checks, full-upgrade, reboot
    suite: Suite = ""  # apt suite the upgrade comes from
    packages: Packages = Field(default_factory=dict)
    reboot: bool = True
    version_file: HostPath = "/etc/debian_version"  # where the host states its OS release
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
