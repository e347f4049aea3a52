"""The lab's state file: everything ``up`` created, so ``down`` removes exactly that.

Each resource is recorded *before* it is created, so an interrupted ``up`` is still fully
undone by ``down`` (removing something that was never made is not an error).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

BRIDGE = "pbxlab0"


class HostState(BaseModel):
    """One lab host and the names of what was made for it."""

    model_config = ConfigDict(frozen=True)

    name: str
    machine: str
    address: str
    subnet: str
    gateway: str
    netns: str
    veth: str
    binds: tuple[str, ...] = ()  # read-only bind mounts (execution nodes: the Python env)
    image: str = "bookworm"  # the host image (specs.IMAGES)
    debian: bool = False  # Debian sources via the lab's proxy, a disk for a major upgrade


class LabState(BaseModel):
    """The whole lab as recorded on disk."""

    model_config = ConfigDict(frozen=True)

    bridge: str = BRIDGE
    bridge_created: bool = False
    bridge_addresses: tuple[str, ...] = ()
    repo_pid: int | None = None
    proxy_pid: int | None = None  # the Debian archive proxy (aptproxy.py)
    rootfs: str = ""
    layer: str = ""
    asterisk_rootfs: str = ""  # the Asterisk image, when the lab has Asterisk hosts
    hosts: tuple[HostState, ...] = ()
    sysctls: dict[str, str] = {}  # kernel limits the lab raised: name -> original value

    def host(self, name: str) -> HostState | None:
        for host in self.hosts:
            if name in (host.name, host.machine, host.address):
                return host
        return None


def load(path: Path) -> LabState | None:
    """The recorded lab, or None when no lab is up."""
    if not path.is_file():
        return None
    return LabState.model_validate_json(path.read_text())


def save(path: Path, state: LabState) -> None:
    """Write atomically: a crash never leaves a half-written state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    os.replace(tmp, path)
