"""The only place that talks to systemd (``systemctl``): install, enable, inspect and
remove the timer and service units of scheduled waves and of the host-certificate renewal,
and the settings file those runs read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from .errors import ConfigError, HostError
from .fsutil import atomic_write
from .settings import Settings


def quote(arg: str) -> str:
    """systemd's quoting for ExecStart= words (double quotes, backslash escapes)."""
    if arg and all(c.isalnum() or c in "/._-=:,@+" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def settings_file(settings: Settings, name: str) -> Path:
    """The settings a scheduled run uses, as a config file (0600 in a 0700 directory).
    A ledger password is never written: the scheduled run finds it in ~/.pgpass (libpq)."""
    values = json.loads(settings.model_dump_json())
    url = make_url(settings.ledger)
    values["ledger_url"] = url.set(password=None).render_as_string(hide_password=False)
    values["execution_nodes"] = list(settings.execution_nodes)
    folder = settings.state_dir / "schedule"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    path = folder / f"{name}.yml"
    atomic_write(path, yaml.safe_dump(values, sort_keys=True), mode=0o600)
    return path


def _systemctl(*args: str, check: bool = True) -> str:
    exe = shutil.which("systemctl")
    if exe is None:
        raise ConfigError("systemctl not found: scheduled waves need systemd on the controller")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise HostError(f"systemctl {' '.join(args)} failed: "
                        f"{(proc.stderr or proc.stdout).strip()[:300]}")
    return proc.stdout


def booted() -> bool:
    """Whether systemd is PID 1 here (else timers cannot work)."""
    return Path("/run/systemd/system").is_dir()


def require_booted() -> None:
    if not booted():
        raise ConfigError("systemd is not running on this machine (no /run/systemd/system): "
                          "scheduled waves need a controller booted with systemd")


def install_timer(unit_dir: Path, name: str, service: str, timer: str) -> None:
    """Write ``name``.service and ``name``.timer and (re)start the timer."""
    require_booted()
    atomic_write(unit_dir / f"{name}.service", service, mode=0o644)
    atomic_write(unit_dir / f"{name}.timer", timer, mode=0o644)
    _systemctl("daemon-reload")
    _systemctl("enable", f"{name}.timer")
    _systemctl("restart", f"{name}.timer")


def remove_timer(unit_dir: Path, name: str) -> bool:
    """Stop, disable and delete the units; False when there was nothing to remove."""
    files = [unit_dir / f"{name}.timer", unit_dir / f"{name}.service"]
    if not any(f.exists() for f in files):
        return False
    if booted():
        _systemctl("disable", "--now", f"{name}.timer", check=False)
    for f in files:
        f.unlink(missing_ok=True)
    if booted():
        _systemctl("daemon-reload", check=False)
    return True


def next_elapse(name: str) -> datetime | None:
    """When the timer fires next, as systemd says (None: not loaded or nothing left)."""
    if not booted():
        return None
    out = _systemctl("show", f"{name}.timer", "-p", "NextElapseUSecRealtime", "--timestamp=unix",
                     check=False).strip()
    value = out.partition("=")[2].lstrip("@")
    try:
        return datetime.fromtimestamp(int(value), UTC) if value and value != "0" else None
    except ValueError:
        return None
