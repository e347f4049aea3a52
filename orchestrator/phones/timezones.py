"""The customer's IANA time zone spelled the ways phones understand it: POSIX TZ rule
(Grandstream), standard UTC offset and DST flag (Yealink, Poly), vendor zone codes (Snom,
Yealink zone names). Pure and deterministic: offsets are taken at fixed reference dates.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

_JAN = datetime(2025, 1, 15, 12)
_JUL = datetime(2025, 7, 15, 12)

_SNOM = {
    "Europe/Berlin": "GER+1",
    "Europe/Vienna": "AUT+1",
    "Europe/Zurich": "SWI+1",
    "Europe/Oslo": "NOR+1",
    "Europe/London": "GBR-0",
    "Europe/Paris": "FRA+1",
    "Europe/Rome": "ITA+1",
    "Europe/Amsterdam": "NED+1",
    "Europe/Madrid": "ESP+1",
    "Europe/Warsaw": "POL+1",
    "America/New_York": "USA-5",
    "America/Chicago": "USA-6",
    "America/Denver": "USA-7",
    "America/Los_Angeles": "USA-8",
    "Asia/Tokyo": "JAP+9",
}

_YEALINK = {
    "Europe/Berlin": "Germany(Berlin)",
    "Europe/Vienna": "Austria(Vienna)",
    "Europe/Zurich": "Switzerland(Bern)",
    "Europe/Oslo": "Norway(Oslo)",
    "Europe/London": "United Kingdom(London)",
    "Europe/Paris": "France(Paris)",
    "Europe/Rome": "Italy(Rome)",
    "Europe/Amsterdam": "Netherlands(Amsterdam)",
    "America/New_York": "United States-Eastern Time",
    "Asia/Tokyo": "Japan(Tokyo)",
}


@dataclass(frozen=True)
class TimeZone:
    name: str
    posix: str
    offset: str  # standard offset for key=value formats: "+1", "-5", "+5:30"
    offset_seconds: int
    dst: bool
    snom: str  # Snom zone code, "" when Snom has none (then utc_offset is used)
    yealink: str  # Yealink zone name, "" when unknown (then only the offset is set)


@lru_cache(maxsize=256)
def phone_timezone(name: str) -> TimeZone:
    """Describe ``name``; ConfigError when it is missing or not an IANA zone."""
    if not name:
        raise ConfigError("customer has no time zone: phones need one (an IANA name)")
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r} (use an IANA name)") from exc
    jan = _seconds(zone, _JAN)
    jul = _seconds(zone, _JUL)
    std = min(jan, jul)
    return TimeZone(
        name=name,
        posix=_posix_rule(name) or _fixed_rule(std),
        offset=_format_offset(std),
        offset_seconds=std,
        dst=jan != jul,
        snom=_SNOM.get(name, ""),
        yealink=_YEALINK.get(name, ""),
    )


def _seconds(zone: zoneinfo.ZoneInfo, when: datetime) -> int:
    delta = when.replace(tzinfo=zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _format_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes = rest // 60
    return f"{sign}{hours}:{minutes:02d}" if minutes else f"{sign}{hours}"


def _fixed_rule(seconds: int) -> str:
    # POSIX offsets count west of Greenwich: UTC+1 is "UTC-1".
    return "UTC" + _format_offset(-seconds).replace("+", "")


def _posix_rule(name: str) -> str:
    """The POSIX TZ rule in the footer of the TZif file (version 2+), or ""."""
    for base in zoneinfo.TZPATH:
        path = Path(base) / name
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if data[:4] == b"TZif" and data.endswith(b"\n"):
            footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
            return footer.decode("ascii", "replace")
    return ""
