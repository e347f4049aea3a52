"""Vendor profiles: which models a vendor has, which files its phones fetch at boot, and
how the customer's language, time zone and SIP transport are spelled in its format.

A profile names templates (under ``templates/phones/``) and output file names; it holds no
customer data. Adding a vendor is a profile here plus its templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import NotFoundError


class ProfileError(NotFoundError):
    """A vendor, model or language for which no profile exists."""


@dataclass(frozen=True)
class FileSpec:
    """One file a phone fetches: the template that renders it and its name on the server.

    ``name`` may contain ``{mac}`` (12 lowercase hex digits) or ``{MAC}`` (upper case).
    """

    template: str
    name: str

    def file_name(self, mac: str) -> str:
        return self.name.format(mac=mac, MAC=mac.upper())


@dataclass(frozen=True)
class VendorProfile:
    vendor: str
    models: frozenset[str]
    phone_files: tuple[FileSpec, ...]
    common_files: tuple[FileSpec, ...] = ()
    languages: Mapping[str, str] = field(default_factory=dict)
    transports: Mapping[str, str] = field(default_factory=dict)

    def language(self, code: str) -> str:
        try:
            return self.languages[code]
        except KeyError:
            known = ", ".join(sorted(self.languages))
            raise ProfileError(
                f"{self.vendor} profile has no language {code!r} (known: {known})"
            ) from None

    def check_model(self, model: str) -> None:
        if model not in self.models:
            known = ", ".join(sorted(self.models))
            raise ProfileError(f"no {self.vendor} profile for model {model!r} (known: {known})")

    def file_names(self, mac: str) -> tuple[str, ...]:
        return tuple(spec.file_name(mac) for spec in self.phone_files)


def _ro(**items: str) -> Mapping[str, str]:
    return MappingProxyType(dict(items))


YEALINK = VendorProfile(
    vendor="yealink",
    models=frozenset({"T53W", "T54W", "T57W", "T46U", "T48U", "T43U", "T33G"}),
    phone_files=(FileSpec("yealink/mac.cfg.j2", "{mac}.cfg"),),
    common_files=(FileSpec("yealink/common.cfg.j2", "y000000000000.cfg"),),
    languages=_ro(
        en="English",
        de="German",
        fr="French",
        it="Italian",
        es="Spanish",
        nl="Dutch",
        pl="Polish",
        pt="Portuguese",
    ),
    transports=_ro(udp="0", tcp="1", tls="2"),
)

SNOM = VendorProfile(
    vendor="snom",
    models=frozenset({"D713", "D717", "D735", "D785", "D865", "D385"}),
    phone_files=(FileSpec("snom/mac.xml.j2", "{MAC}.xml"),),
    languages=_ro(
        en="English",
        de="Deutsch",
        fr="Francais",
        it="Italiano",
        es="Espanol",
        nl="Nederlands",
        pl="Polski",
        pt="Portugues",
    ),
    transports=_ro(udp="udp", tcp="tcp", tls="tls"),
)

POLY = VendorProfile(
    vendor="poly",
    models=frozenset({"VVX150", "VVX250", "VVX350", "VVX450", "VVX501", "VVX601"}),
    phone_files=(FileSpec("poly/phone.xml.j2", "{mac}-phone.cfg"),),
    common_files=(FileSpec("poly/master.xml.j2", "000000000000.cfg"),),
    languages=_ro(
        en="English_United_Kingdom",
        de="German_Germany",
        fr="French_France",
        it="Italian_Italy",
        es="Spanish_Spain",
        nl="Dutch_Netherlands",
        pl="Polish_Poland",
        pt="Portuguese_Portugal",
    ),
    transports=_ro(udp="UDPOnly", tcp="TCPOnly", tls="TLS"),
)

GRANDSTREAM = VendorProfile(
    vendor="grandstream",
    models=frozenset({"GRP2612", "GRP2613", "GRP2614", "GRP2616", "GXP2170", "GXP2160"}),
    phone_files=(FileSpec("grandstream/cfg.xml.j2", "cfg{mac}.xml"),),
    languages=_ro(en="en", de="de", fr="fr", it="it", es="es", nl="nl", pl="pl", pt="pt"),
    transports=_ro(udp="0", tcp="1", tls="2"),
)

PROFILES: Mapping[str, VendorProfile] = MappingProxyType(
    {p.vendor: p for p in (YEALINK, SNOM, POLY, GRANDSTREAM)}
)


def profile_for(vendor: str, model: str | None = None) -> VendorProfile:
    """The profile of ``vendor`` (and check ``model`` is one it knows)."""
    try:
        profile = PROFILES[vendor]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ProfileError(f"no phone profile for vendor {vendor!r} (known: {known})") from None
    if model is not None:
        profile.check_model(model)
    return profile


def common_file_names() -> frozenset[str]:
    """Files shared by all phones of a vendor on one server (never removed by a publish)."""
    return frozenset(spec.name for p in PROFILES.values() for spec in p.common_files)
