"""Edge routers: the "let the spoke's WireGuard through" side of a customer site.

Configuration comes from ``templates/routers/<device_type>.j2`` (rendered in a Jinja2
sandbox) and is checked before use. ``linux`` routers are configured through Netmiko
(``orchestrator.remote``); Cisco IOS and MikroTik RouterOS configurations are rendered and
checked for structure only, and written next to the access state for an engineer to apply:
they are NOT tested against real hardware here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from ..errors import ConfigError, HostError
from ..model.customer import EdgeRouter
from .context import Context
from .spokes import Spoke

SPOKE_PORT = 51820
WAN_INTERFACE = {"cisco_ios": "GigabitEthernet0/0", "mikrotik_routeros": "ether1", "linux": "eth0"}
_CISCO = re.compile(r"^(!.*|ip access-list extended [A-Z-]+| permit udp .*|ip nat inside .*|end)$")
_ROUTEROS = re.compile(r"^(#.*|/ip firewall (filter|nat)|add chain=\S+ action=\S+ .*)$")
_LINUX = re.compile(r"^(#.*|nft .*)$")
_LINE_RULES = {"cisco_ios": _CISCO, "mikrotik_routeros": _ROUTEROS, "linux": _LINUX}


@dataclass(frozen=True)
class RouterConfig:
    router: EdgeRouter
    customer_id: str
    text: str
    path: Path
    pushed: bool  # applied on the router (linux routers with --configure-routers)
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "router": self.router.hostname,
            "device_type": self.router.device_type,
            "config": str(self.path),
            "applied": self.pushed,
            "error": self.error,
        }


def _env(project_dir: Path) -> SandboxedEnvironment:
    from jinja2 import FileSystemLoader

    return SandboxedEnvironment(
        loader=FileSystemLoader(str(project_dir / "templates" / "routers")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(
    project_dir: Path,
    router: EdgeRouter,
    customer_id: str,
    pbx_addresses: list[str],
    hub_endpoint: str,
) -> str:
    host, _, port = hub_endpoint.rpartition(":")
    text = (
        _env(project_dir)
        .get_template(f"{router.device_type}.j2")
        .render(
            router=router,
            customer_id=customer_id,
            pbx_addresses=sorted(pbx_addresses),
            hub_host=host,
            hub_port=int(port),
            spoke_port=SPOKE_PORT,
            wan_interface=WAN_INTERFACE[router.device_type],
        )
    )
    problems = check(router.device_type, text)
    if problems:
        raise ConfigError(f"router config for {router.hostname} failed its check: {problems[0]}")
    return text


def check(device_type: str, text: str) -> list[str]:
    """Structural check: every line is one the template family may produce, every
    address parses, nothing is left unrendered."""
    rule = _LINE_RULES[device_type]
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "{{" in line or "{%" in line or not rule.match(line):
            problems.append(f"line {n}: unexpected {line!r}")
        for word in re.findall(r"\d+\.\d+\.\d+\.\d+", line):
            try:
                IPv4Address(word)
            except ValueError:
                problems.append(f"line {n}: bad address {word}")
    return problems


def configure(ctx: Context, spokes: list[Spoke], push: bool) -> list[RouterConfig]:
    """Render (and for ``linux`` routers with ``push``, apply) each site's router config."""
    by_router: dict[EdgeRouter, list[str]] = defaultdict(list)
    for s in spokes:
        if s.edge_router is not None:
            by_router[s.edge_router].append(s.address)
    out = []
    for router, pbxs in by_router.items():
        text = render(
            ctx.settings.project_dir,
            router,
            spokes[0].customer_id,
            pbxs,
            ctx.settings.vpn_hub_endpoint,
        )
        path = ctx.dir / "routers" / f"{router.hostname}.cfg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        pushed, error = False, None
        if push and router.device_type == "linux":
            from .. import remote

            try:
                remote.configure_linux_router(
                    str(router.address), _commands(text), ctx.settings.ssh_config
                )
                pushed = True
            except HostError as exc:
                error = str(exc)
        out.append(RouterConfig(router, spokes[0].customer_id, text, path, pushed, error))
    return out


def _commands(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
