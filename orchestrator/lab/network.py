"""The lab network: one bridge in the root namespace, one namespace + veth per host."""

from __future__ import annotations

from pathlib import Path

from .sh import run
from .specs import PROVIDER_INTERFACE
from .state import HostState

NETNS_DIR = Path("/run/netns")


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def create_bridge(bridge: str) -> None:
    if not link_exists(bridge):
        run(["ip", "link", "add", bridge, "type", "bridge"])
    run(["ip", "link", "set", bridge, "up"])


def add_address(bridge: str, interface: str) -> None:
    """Add ``interface`` (e.g. ``10.210.3.1/24``) to the bridge unless it is there."""
    shown = run(["ip", "-o", "addr", "show", "dev", bridge]).stdout
    if f" {interface} " not in shown:
        run(["ip", "addr", "add", interface, "dev", bridge])


def provider_interface() -> str:
    return str(PROVIDER_INTERFACE)


def create_host_network(host: HostState, bridge: str) -> None:
    """The host's namespace, its veth on the bridge, its address and default route."""
    if not netns_exists(host.netns):
        run(["ip", "netns", "add", host.netns])
    if not link_exists(host.veth):
        run(
            [
                "ip",
                "link",
                "add",
                host.veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host.netns,
            ]
        )
    run(["ip", "link", "set", host.veth, "master", bridge, "up"])
    prefix = host.subnet.split("/")[1]
    ns = ["ip", "-n", host.netns]
    run([*ns, "addr", "replace", f"{host.address}/{prefix}", "dev", "eth0"])
    run([*ns, "link", "set", "eth0", "up"])
    run([*ns, "link", "set", "lo", "up"])
    run([*ns, "route", "replace", "default", "via", host.gateway])


def delete_host_network(host: HostState) -> None:
    if link_exists(host.veth):
        run(["ip", "link", "del", host.veth], check=False)
    if netns_exists(host.netns):
        run(["ip", "netns", "del", host.netns], check=False)


def delete_bridge(bridge: str) -> None:
    if link_exists(bridge):
        run(["ip", "link", "del", bridge], check=False)


def delete_address(bridge: str, interface: str) -> None:
    if link_exists(bridge):
        run(["ip", "addr", "del", interface, "dev", bridge], check=False)


def set_link(name: str, up: bool) -> None:
    run(["ip", "link", "set", name, "up" if up else "down"])
