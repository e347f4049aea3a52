"""One Settings object. Resolution order, in one place: argument > environment
(``PBXOPS_<NAME>``) > config file > default.

The config file is YAML, found at ``--config``/``PBXOPS_CONFIG``, else ``./pbxops.yml``,
else ``~/.config/pbxops/config.yml``; it is optional.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pbxops"


STRATEGIES = ("mitogen_linear", "mitogen_free", "linear", "free")


class Settings(BaseModel):
    """Every knob pbxops has. Paths are absolute after resolution."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    book: Path = REPO_ROOT / "inventory" / "demo"
    state_dir: Path = _state_dir()
    ledger_url: str = ""  # empty: sqlite file under state_dir
    project_dir: Path = REPO_ROOT  # playbooks/, roles/, templates/ live here
    forks: int = Field(20, ge=1, le=10000)
    # mitogen_linear (default; linear when Mitogen is not installed) | linear | free
    strategy: str = "mitogen_linear"
    ops_email: str = "ops@provider.example"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    vpn_pool: str = "10.250.0.0/16"
    vpn_hub_endpoint: str = "10.209.0.1:51820"  # where spokes reach the hub (lab: provider side)
    vpn_hub_interface: str = "wgh-0"
    vpn_debs_dir: Path | None = None  # WireGuard .debs for hosts without a Debian mirror (lab)
    secret_key_file: Path = Path.home() / ".config" / "pbxops" / "secret.key"
    ssh_config: Path | None = None  # ssh_config for Ansible/ssh (the lab writes one)
    lab_cache_dir: Path = Path("/var/cache/pbxops-lab")
    lab_run_dir: Path = Path("/run/pbxops-lab")
    # ssh destinations that run wave batches with `ansible-runner worker` (empty: run here)
    execution_nodes: tuple[str, ...] = ()
    execution_node_command: str = "ansible-runner"  # how a node starts ansible-runner
    systemd_unit_dir: Path = Path("/etc/systemd/system")  # where `wave schedule` puts its timer
    # the ticket system (Request Tracker 5): its web base URL; empty: no ticket system
    # (incidents live in the ledger and in mail only). Its password or token is a secret:
    # `pbxops tickets login` stores it encrypted under state_dir/tickets.
    ticket_url: str = ""
    ticket_user: str = ""  # RT user for REST2 basic auth; empty: the secret is an auth token
    ticket_triage_queue: str = "triage"  # where mail from unknown senders waits
    # this ledger's name in RT's incident keys (custom field `pbxops incident`:
    # <instance>/INC-000042): two installations sharing one RT need different ones
    ticket_instance: str = Field("pbxops", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
    ticket_timeout: float = Field(10.0, gt=0, le=300)  # seconds per RT request
    # health sweep: a host whose newest configuration backup is older warns
    health_backup_max_age_hours: float = Field(7 * 24.0, gt=0, le=24 * 366)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        """An Ansible strategy pbxops runs with; anything else would fail at the first wave."""
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r} (one of {', '.join(STRATEGIES)})")
        return value

    @field_validator("ticket_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str) -> str:
        """The URL is printed in errors and `tickets status`: it must carry no password.
        The message never repeats the value."""
        if "@" in urlsplit(value.strip()).netloc:
            raise ValueError(
                "carries a user name or password (user:pass@host): remove it; set "
                "ticket_user and store the password with `pbxops tickets login`"
            )
        return value

    @field_validator("execution_nodes", mode="before")
    @classmethod
    def _node_list(cls, value: Any) -> Any:
        """``PBXOPS_EXECUTION_NODES=a,b`` (comma- or space-separated) or a YAML list."""
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, list | tuple):
            nodes = [str(v).strip() for v in value if str(v).strip()]
            bad = [n for n in nodes if n.startswith("-") or any(c.isspace() for c in n)]
            if bad:
                raise ValueError(f"not an ssh destination: {bad[0]!r}")
            if len(set(nodes)) != len(nodes):
                raise ValueError("an execution node is listed twice")
            return tuple(nodes)
        return value

    @property
    def ledger(self) -> str:
        return self.ledger_url or f"sqlite:///{self.state_dir / 'ledger.sqlite'}"

    @property
    def ticket_secret_file(self) -> Path:
        """The RT password or token, encrypted (`pbxops tickets login`)."""
        return self.state_dir / "tickets" / "secret"

    @property
    def runs_dir(self) -> Path:
        """ansible-runner private data dirs and artifacts, one per run."""
        return self.state_dir / "runs"


class _ConfigLoader(yaml.SafeLoader):
    """YAML as settings need it: a date-like value stays the text it is (no setting is a
    date; ``2027-02-30`` would otherwise end in a traceback)."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _config_file(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    named = explicit or env.get("PBXOPS_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"config file not found (or not a file): {path}")
        return path
    for candidate in (Path("pbxops.yml"), Path.home() / ".config" / "pbxops" / "config.yml"):
        if candidate.is_file():
            return candidate
    return None


def _read_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = yaml.load(text, Loader=_ConfigLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of setting: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _lab_ssh_config(merged: dict[str, Any]) -> None:
    """The one rule for every command: no ``ssh_config`` set and a lab up (its
    ``lab_run_dir`` has an ssh_config) -> the lab's, so the README's commands reach the lab
    hosts as `pbxops lab ssh` does; else the user's own SSH configuration."""
    if merged.get("ssh_config") not in (None, ""):
        return
    run_dir = merged.get("lab_run_dir") or Settings.model_fields["lab_run_dir"].default
    try:
        lab_config = Path(str(run_dir)) / "ssh_config"
        if lab_config.is_file():
            merged["ssh_config"] = str(lab_config)
    except (OSError, ValueError):
        return


def _lab_vpn_debs(merged: dict[str, Any]) -> None:
    """No ``vpn_debs_dir`` set and a lab up -> ``<lab_cache_dir>/debs`` when it holds .debs
    (``scripts/setup.sh`` fetches wireguard-tools and wireguard-go there: lab hosts have no
    Debian mirror), so `access grant` works on the lab without a setting."""
    if merged.get("vpn_debs_dir") not in (None, ""):
        return
    run_dir = merged.get("lab_run_dir") or Settings.model_fields["lab_run_dir"].default
    cache = merged.get("lab_cache_dir") or Settings.model_fields["lab_cache_dir"].default
    try:
        debs = Path(str(cache)) / "debs"
        if (Path(str(run_dir)) / "ssh_config").is_file() and any(debs.glob("*.deb")):
            merged["vpn_debs_dir"] = str(debs)
    except (OSError, ValueError):
        return


def load_settings(
    args: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config: str | None = None,
) -> Settings:
    """Resolve every setting: argument > environment > file > default."""
    env = os.environ if env is None else env
    path = _config_file(config, env)
    merged: dict[str, Any] = _read_file(path)
    origin = dict.fromkeys(merged, f"config file {path}")
    for name in Settings.model_fields:
        value = env.get(f"PBXOPS_{name.upper()}")
        if value is not None and value != "":
            merged[name] = value
            origin[name] = f"environment PBXOPS_{name.upper()}"
    for name, value in (args or {}).items():
        if value is not None:
            merged[name] = value
            origin[name] = f"option --{name.replace('_', '-')}"
    _lab_ssh_config(merged)
    _lab_vpn_debs(merged)
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        where = origin.get(str(first["loc"][0]) if first["loc"] else "", "")
        raise ConfigError(
            f"setting {field!r}{f' ({where})' if where else ''}: {first['msg']}"
        ) from exc
