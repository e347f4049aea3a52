"""PBX platform profiles: how to install, version, count calls on, check and back up a PBX.

ONE place for what differs between PBX platforms. A system of the book picks a profile by
its optional ``pbx_profile`` (default: its ``platform``); the inventory puts the profile's
role variables on each host as ``pbxops_pbx`` and every role and check that touches a PBX
(pbx_update, pbx_preflight, pbx_check, os_upgrade, pbx_health, the health sweep) reads them
from there. The commands here are constants of this module, never book data: the roles run
them in a shell; anything from the book (package names, versions) goes through argv.

``asterisk``, ``freepbx`` and ``3cx`` are the real platforms. ``asterisk`` is tested in the
lab against the real Debian ``asterisk`` package (Debian sid hosts, orchestrator/lab/
asterisk.py). freepbx and 3cx follow the vendors' documented procedures but are NOT tested
against a real system here: none runs in the lab. ``labpbx`` is the lab's fast stand-in for
Asterisk: Kamailio packaged as ``labpbx`` (lab/packages/labpbx), selected by
``pbx_profile: labpbx`` where a test needs many hosts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

Installer = Literal["apt", "fwconsole"]
BACKUP_DIR = "/var/backups/pbxops"


@dataclass(frozen=True)
class PbxProfile:
    """What the roles and the health sweep need to know about one kind of PBX."""

    name: str
    platform: str  # the book platform this profile serves
    installer: Installer  # apt: pinned Debian packages; fwconsole: FreePBX modules
    package: str  # the package whose version is the version of record (apt)
    service: str  # systemd unit, without ".service"
    config_dir: str  # backed up before an update, its digest checked after
    calls_command: str  # shell; first word of its output = number of active calls
    version_command: str  # shell; prints the running version ("": the package's dpkg version)
    cert_path: str  # the PBX's TLS certificate (health: days to expiry; absent = skipped)
    backup_dir: str = BACKUP_DIR
    sip_port: int = 5060
    # shell, for a PBX whose SIP Server header does not carry the version of record: prints
    # the running daemon's own version and succeeds only when the daemon runs the installed
    # package's build ("": the SIP Server header carries the version of record, as LabPBX's)
    running_command: str = ""
    # The PJSIP accounts pbxops renders from the book and publishes with the phone files
    # (orchestrator/phones/accounts.py; "": pbxops does not manage the PBX's SIP accounts).
    sip_accounts_file: str = ""
    # shell; one line "AOR EXPIRY" per registered contact, EXPIRY in Unix seconds ("": the
    # update's registration post-check is skipped on this platform)
    registrations_command: str = ""

    def role_vars(self) -> dict[str, str | int]:
        """The ``pbxops_pbx`` host variable: every field, by name."""
        return asdict(self)


ASTERISK = PbxProfile(
    name="asterisk",
    platform="asterisk",
    installer="apt",
    package="asterisk",
    service="asterisk",
    config_dir="/etc/asterisk",
    calls_command="asterisk -rx 'core show channels count' | awk '/active call/ {print $1; exit}'",
    # The version of record is the dpkg version of `asterisk` (what apt pins and rolls back).
    # `core show version` (and the SIP Server header, "Asterisk PBX <version>") print the
    # version compiled into the binary: a Debian rebuild or a repack (the lab's releases)
    # does not change it, so it cannot tell two packages apart. It is read as the running
    # check instead: the daemon answers on its console, and it was started after dpkg last
    # unpacked the package (it runs the installed build, i.e. it was restarted).
    version_command="",
    running_command=(
        "v=$(asterisk -rx 'core show version' | awk '$1 == \"Asterisk\" {print $2; exit}'); "
        "pid=$(systemctl show --property=MainPID --value asterisk); "
        '[ -n "$v" ] && [ "${pid:-0}" -gt 0 ] && '
        '[ $(( $(date +%s) - $(ps -o etimes= -p "$pid") )) -ge '
        '"$(stat -c %Y /var/lib/dpkg/info/asterisk.list)" ] && echo "$v"'
    ),
    cert_path="/etc/asterisk/keys/asterisk.crt",
    sip_accounts_file="/etc/asterisk/pbxops-accounts.conf",
    # Contacts as res_pjsip persists them in the astdb (family registrar/contact, key
    # "AOR;@HASH", a JSON value with "expiration_time"): a REGISTER the PBX accepted moves
    # the expiry, which `pjsip show contacts` does not show.
    registrations_command=(
        "asterisk -rx 'database show registrar/contact' | sed -nE "
        "'s|^/registrar/contact/([^;]+);.*\"expiration_time\": *\"?([0-9]+).*|\\1 \\2|p'"
    ),
)

FREEPBX = PbxProfile(
    name="freepbx",
    platform="freepbx",
    installer="fwconsole",
    package="freepbx17",  # FreePBX 17 on Debian 12; the version of record is the framework's
    service="freepbx",
    config_dir="/etc/asterisk",
    calls_command="asterisk -rx 'core show channels count' | awk '/active call/ {print $1; exit}'",
    version_command=(
        "fwconsole ma list | awk -F'|' '$2 ~ /^ *framework *$/ {gsub(/ /, \"\", $3); print $3}'"
    ),
    cert_path="/etc/asterisk/keys/integration/webserver.crt",
)

THREECX = PbxProfile(
    name="3cx",
    platform="3cx",
    installer="apt",
    package="3cxpbx",
    service="3CXPhoneSystem01",
    config_dir="/var/lib/3cxpbx/Instance1/Bin",
    # 3CX has no command for its active calls: count open media sockets (UDP 9000-10999).
    calls_command="ss -Hun 'sport >= :9000 and sport <= :10999' | wc -l",
    version_command="",
    cert_path="/var/lib/3cxpbx/Bin/nginx/conf/Instance1/certificate.pem",
)

LABPBX = PbxProfile(
    name="labpbx",
    platform="asterisk",
    installer="apt",
    package="labpbx",
    service="labpbx",
    config_dir="/etc/labpbx",
    calls_command="labpbx-cli calls",
    version_command="",
    cert_path="/etc/labpbx/tls.crt",
)

PROFILES: dict[str, PbxProfile] = {p.name: p for p in (ASTERISK, FREEPBX, THREECX, LABPBX)}
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PbxProfile))


def profile(name: str) -> PbxProfile:
    """The profile called ``name``; KeyError names the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown PBX profile {name!r} (known: {', '.join(PROFILES)})") from None


def check_profile(name: str, platform: str) -> str | None:
    """Why ``name`` cannot serve a system of ``platform`` (None: it can)."""
    if name not in PROFILES:
        return f"unknown pbx_profile {name!r} (known: {', '.join(PROFILES)})"
    if PROFILES[name].platform != platform:
        return f"pbx_profile {name!r} is for platform {PROFILES[name].platform}, not {platform}"
    return None
