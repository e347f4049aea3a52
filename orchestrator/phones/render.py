"""Render phone configuration files: a sandboxed Jinja2 environment with StrictUndefined,
autoescaping for the XML formats, one profile per vendor.

Rendering is pure and deterministic: the same book, catalogue, credentials and endpoint
give byte-identical files (sorted by name, no timestamps). Every XML output is parsed back
before it is returned, so a broken template fails here and not on a phone.
"""

from __future__ import annotations

import hashlib
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import ConfigError
from ..model import Catalog, Customer, Firmware, Phone, System
from ..secrets import Redacted
from ..settings import REPO_ROOT
from .profiles import PROFILES, ProfileError, VendorProfile, profile_for
from .timezones import TimeZone, phone_timezone

TEMPLATE_DIR = REPO_ROOT / "templates" / "phones"
MASK = "********"


class TemplateError(ConfigError):
    """A phone template is broken; the message names the template and the line."""


@dataclass(frozen=True)
class Credential:
    """The SIP account of one extension. ``password`` never shows in repr or logs."""

    username: str
    password: Redacted


@dataclass(frozen=True)
class Endpoint:
    """Where the phones of one PBX register and fetch their configuration."""

    sip_server: str
    provisioning_url: str
    fallback_url: str = ""  # the standby's provisioning endpoint (hardware-failure workaround)
    sip_port: int = 5060
    transport: str = "udp"


@dataclass(frozen=True)
class RenderedFile:
    name: str
    content: str
    vendor: str
    template: str
    mac: str | None = None  # None: a file common to all phones of the vendor
    extension: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


@dataclass(frozen=True)
class PhoneFiles:
    """Every file of one PBX's phones, sorted by name; ``secrets`` for redaction."""

    files: tuple[RenderedFile, ...]
    secrets: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files)

    def get(self, name: str) -> RenderedFile | None:
        return next((f for f in self.files if f.name == name), None)

    def redact(self, text: str) -> str:
        """``text`` with every SIP password of this set replaced by a mask."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def _kv(value: object) -> str:
    """A value for a key=value line: no line breaks, no surrounding blanks."""
    return " ".join(str(value).split())


def _autoescape(name: str | None) -> bool:
    return bool(name and name.endswith(".xml.j2"))


def _template_line(exc: BaseException, template_dir: Path) -> int | None:
    prefix = str(template_dir)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(prefix):
            return frame.lineno
    return getattr(exc, "lineno", None)


class Renderer:
    """Loads templates once; renders phones of any vendor with a profile."""

    def __init__(self, template_dir: Path | None = None) -> None:
        self.template_dir = Path(template_dir or TEMPLATE_DIR)
        self._env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(self.template_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=64,
        )
        self._env.filters["kv"] = _kv

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        """Render one template; any failure is a TemplateError naming template and line."""
        try:
            text = self._env.get_template(template).render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} not found in {self.template_dir}") from exc
        except jinja2.TemplateSyntaxError as exc:
            where = f"template {exc.name or template}, line {exc.lineno}"
            raise TemplateError(f"{where}: {exc.message}") from exc
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            line = _template_line(exc, self.template_dir)
            raise TemplateError(f"template {template}, line {line}: {exc}") from exc
        if _autoescape(template):
            _check_xml(template, text)
        return text

    def phone_files(
        self, base: Mapping[str, Any], phone: Phone, credential: Credential, catalog: Catalog
    ) -> list[RenderedFile]:
        profile = profile_for(phone.vendor, phone.model)
        context = dict(base)
        context.update(_phone_context(profile, phone, credential, catalog, base["language"]))
        sip = base["sip"]
        context["sip"] = {**sip, "transport": profile.transports[sip["transport_name"]]}
        return [
            RenderedFile(
                name=spec.file_name(phone.mac),
                content=self.render(spec.template, context),
                vendor=profile.vendor,
                template=spec.template,
                mac=phone.mac,
                extension=phone.extension,
            )
            for spec in profile.phone_files
        ]

    def common_files(self, vendor: str, catalog: Catalog) -> list[RenderedFile]:
        """The vendor's shared files: customer-neutral, so a server can carry many customers."""
        profile = PROFILES[vendor]
        firmware = [
            {"model": f.model, "version": f.version, "url": f.url}
            for f in sorted(catalog.firmware, key=lambda f: f.model)
            if f.vendor == vendor
        ]
        context = {"firmware_list": firmware}
        return [
            RenderedFile(spec.name, self.render(spec.template, context), vendor, spec.template)
            for spec in profile.common_files
        ]

    def system_files(
        self,
        customer: Customer,
        system: System,
        catalog: Catalog,
        credentials: Mapping[str, Credential],
        endpoint: Endpoint,
    ) -> PhoneFiles:
        """Every file the phones of ``system`` fetch, validated before anything is written."""
        check_phones(customer, system.phones, credentials)
        base = system_context(customer, endpoint)
        files: list[RenderedFile] = []
        for vendor in sorted({p.vendor for p in system.phones}):
            files.extend(self.common_files(vendor, catalog))
        for phone in system.phones:
            lang = phone.language or customer.language
            ctx = {**base, "language": lang}
            files.extend(self.phone_files(ctx, phone, credentials[phone.extension], catalog))
        secrets = frozenset(credentials[p.extension].password.reveal() for p in system.phones)
        return PhoneFiles(tuple(sorted(files, key=lambda f: f.name)), secrets)


def check_phones(
    customer: Customer, phones: Sequence[Phone], credentials: Mapping[str, Credential]
) -> None:
    """Every reason the phones cannot be rendered, at once (ProfileError)."""
    problems: list[str] = []
    for phone in phones:
        problems.extend(_phone_problems(customer, phone, credentials))
    if problems:
        raise ProfileError("; ".join(dict.fromkeys(problems)))


def _phone_problems(
    customer: Customer, phone: Phone, credentials: Mapping[str, Credential]
) -> Iterable[str]:
    where = f"phone {phone.mac} (extension {phone.extension})"
    try:
        profile = profile_for(phone.vendor, phone.model)
        profile.language(phone.language or customer.language)
    except ProfileError as exc:
        yield f"{where}: {exc}"
    if phone.extension not in credentials:
        yield f"{where}: no SIP credentials"


def system_context(customer: Customer, endpoint: Endpoint) -> dict[str, Any]:
    """The part of the template context shared by all phones of one PBX."""
    tz: TimeZone = phone_timezone(customer.timezone)
    return {
        "customer": {"id": customer.id, "name": customer.name},
        "sip": {
            "server": endpoint.sip_server,
            "port": endpoint.sip_port,
            "transport_name": endpoint.transport,
        },
        "provisioning": {"url": endpoint.provisioning_url, "fallback": endpoint.fallback_url},
        "tz": {
            "name": tz.name,
            "posix": tz.posix,
            "offset": tz.offset,
            "offset_seconds": tz.offset_seconds,
            "dst": tz.dst,
            "snom": tz.snom,
            "yealink": tz.yealink,
        },
        "ntp": customer.ntp_server,
        "language": customer.language,
    }


def _phone_context(
    profile: VendorProfile, phone: Phone, credential: Credential, catalog: Catalog, lang: str
) -> dict[str, Any]:
    fw: Firmware | None = catalog.firmware_for(phone.vendor, phone.model)
    return {
        "phone": {
            "mac": phone.mac,
            "MAC": phone.mac.upper(),
            "model": phone.model,
            "extension": phone.extension,
            "display_name": phone.display_name or phone.extension,
            "label": phone.extension,
        },
        "account": {"username": credential.username, "password": credential.password.reveal()},
        "language": profile.language(lang),
        "firmware": {"version": fw.version, "url": fw.url} if fw else None,
    }


def _check_xml(template: str, text: str) -> None:
    try:
        ET.fromstring(text.encode())
    except ET.ParseError as exc:
        line = exc.position[0]
        raise TemplateError(
            f"template {template} rendered XML that does not parse (output line {line}): {exc}"
        ) from exc
