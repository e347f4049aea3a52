"""What the lab looks like right now, host by host."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..settings import Settings
from ..sipprobe import probe
from . import cgroups, core, hosts, network
from .paths import LabPaths
from .state import HostState, load


@dataclass(frozen=True)
class HostStatus:
    """One host as seen from the controller."""

    name: str
    address: str
    running: bool
    ssh: bool
    sip_status: int | None
    sip_version: str | None
    memory_mb: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def lab_status(settings: Settings) -> list[HostStatus]:
    """Every recorded host with up/down, ssh reachability and its SIP answer (empty: no lab)."""
    paths = LabPaths.of(settings)
    state = load(paths.state_file)
    if state is None:
        return []
    return core._parallel(lambda h: host_status(paths, h), state.hosts)


def host_status(paths: LabPaths, host: HostState) -> HostStatus:
    running = hosts.running(paths, host) and network.netns_exists(host.netns)
    sip = probe(host.address, timeout=0.5) if running else None
    memory = cgroups.memory_bytes(hosts.cgroup_dirs(paths, host)) if running else None
    return HostStatus(
        name=host.name,
        address=host.address,
        running=running,
        ssh=running and core.ssh_ready(host.address, timeout=0.5),
        sip_status=sip.status if sip else None,
        sip_version=sip.version if sip else None,
        memory_mb=round(memory / 2**20, 1) if memory else None,
    )
