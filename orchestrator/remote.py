"""The ONLY module that knows Fabric and Netmiko: ad-hoc commands on customer hosts
through the tunnel, and edge routers.

Host keys are always checked: Fabric connections get the host's key pinned from the
ledger (the key pbxops signed a host certificate for) and reject anything else; the
interactive ``ssh`` verifies the host certificate with ``@cert-authority``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import HostError


@dataclass(frozen=True)
class CommandResult:
    host: str
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Credentials:
    """A technician's key and certificate, and what verifies hosts."""

    user: str
    key_file: Path
    cert_file: Path
    known_hosts: Path


def command_line(argv: list[str]) -> str:
    """The command line a host's shell gets, as ssh builds it: the arguments joined by single
    spaces, unquoted (``run acme -- 'systemctl status asterisk'`` runs what ``ssh host
    'systemctl status asterisk'`` runs; quoting each argument made it one program name)."""
    return " ".join(argv)


def ssh_argv(creds: Credentials, address: str, command: list[str]) -> list[str]:
    """OpenSSH with the certificate; hosts verified by the host CA, never by TOFU."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        f"UserKnownHostsFile={creds.known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"IdentityFile={creds.key_file}",
        "-o",
        f"CertificateFile={creds.cert_file}",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        f"{creds.user}@{address}",
        *command,
    ]


def interactive(argv: list[str]) -> int:
    """Run ssh attached to this terminal; its exit code."""
    return subprocess.call(argv)


def run_command(
    creds: Credentials, host: str, address: str, host_key: str, command: str, timeout: int = 60
) -> CommandResult:
    """Run one command with Fabric; the host must present exactly ``host_key``.

    No ssh_config is read (like ``ssh -F /dev/null``): nothing on this machine can
    redirect the connection, add keys or relax the host-key check."""
    from fabric import Config, Connection
    from invoke.exceptions import CommandTimedOut
    from paramiko import PKey, RejectPolicy, SSHConfig
    from paramiko.ssh_exception import SSHException

    key = PKey.from_path(creds.key_file)
    key.load_certificate(str(creds.cert_file))
    conn = Connection(
        address,
        user=creds.user,
        config=Config(ssh_config=SSHConfig()),
        connect_timeout=10,
        connect_kwargs={"pkey": key, "look_for_keys": False, "allow_agent": False},
    )
    kind, blob = host_key.split()[:2]
    conn.client.get_host_keys().add(address, kind, PKey.from_type_string(kind, _b64(blob)))
    conn.client.set_missing_host_key_policy(RejectPolicy())
    try:
        res = conn.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
    except (SSHException, OSError, CommandTimedOut) as exc:
        raise HostError(f"{host} ({address}): {_reason(exc)}") from exc
    finally:
        conn.close()
    return CommandResult(host, int(res.exited), str(res.stdout), str(res.stderr))


def _reason(exc: Exception) -> str:
    from paramiko.ssh_exception import BadHostKeyException

    if isinstance(exc, BadHostKeyException):
        return "host key mismatch: the host presented a key pbxops did not certify; refused"
    return str(exc) or type(exc).__name__


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


_RC = re.compile(r"pbxops-rc=(\d+)")


def configure_linux_router(address: str, commands: list[str], ssh_config: Path | None) -> str:
    """Apply ``commands`` on a Linux edge router with Netmiko's ``linux`` driver, as root
    through sudo; host keys checked against the ssh_config's known_hosts. Each command's
    exit status is checked (Netmiko only returns output): the first failure raises."""
    from netmiko import ConnectHandler
    from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
    from paramiko.ssh_exception import SSHException

    params = {
        "device_type": "linux",
        "host": address,
        "username": "pbxops",
        "use_keys": True,
        "allow_agent": False,
        "ssh_strict": True,
        "system_host_keys": False,
        "ssh_config_file": str(ssh_config) if ssh_config else None,
    }
    params.update(_known_hosts_params(ssh_config))
    out = []
    try:
        with ConnectHandler(**params) as conn:
            for c in commands:
                text = str(conn.send_command(f'sudo -n {c}; echo "pbxops-rc=$?"'))
                found = _RC.findall(text)
                output = _RC.sub("", text).strip()
                if not found or found[-1] != "0":
                    code = found[-1] if found else "unknown"
                    raise HostError(
                        f"edge router {address}: {c!r} failed (exit {code}): {output[-300:]}"
                    )
                out.append(output)
    except (
        NetmikoAuthenticationException,
        NetmikoTimeoutException,
        SSHException,
        OSError,
    ) as exc:
        raise HostError(f"edge router {address}: {_reason(exc)}") from exc
    return "\n".join(o for o in out if o)


def _known_hosts_params(ssh_config: Path | None) -> dict[str, object]:
    """Netmiko's alternative host-key file and key file, read from the ssh_config."""
    if ssh_config is None or not ssh_config.is_file():
        return {}
    found: dict[str, object] = {}
    for line in ssh_config.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "UserKnownHostsFile":
            found.update(alt_host_keys=True, alt_key_file=words[1])
        if len(words) == 2 and words[0] == "IdentityFile":
            found["key_file"] = words[1]
    return found
