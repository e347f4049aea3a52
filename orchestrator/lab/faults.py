"""Fault injection for tests: break one lab host the way real sites break, and undo it.

Kinds (``inject(settings, host, kind)``; ``clear`` undoes the same kind):

- ``network-down``: unplug the host (its veth on the bridge goes down).
- ``sshd-down``: stop sshd inside the host (existing sessions stay, new ones are refused).
- ``disk-full``: fill the host's root filesystem (its size-limited writable layer).
- ``repo-unreachable``: the host's packets to the lab apt repository are rejected (nftables
  in the host's namespace, outside the container's control).
- ``sip-hang``: freeze the SIP service (SIGSTOP to every labpbx process; SIGCONT to clear).
- ``reboot``: reboot the host (systemd inside; the supervisor starts it again). No clear.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import LabError, NotFoundError
from ..settings import Settings
from . import hosts, network
from .paths import LabPaths
from .repo import REPO_PORT
from .sh import run
from .specs import PROVIDER_INTERFACE
from .state import HostState, load

FILL_FILE = "var/tmp/pbxops-lab-disk-fill"
_NFT_TABLE = "pbxlab_fault"

Action = Callable[[LabPaths, HostState], None]


def _network(up: bool) -> Action:
    return lambda paths, host: network.set_link(host.veth, up)


def _systemctl(*args: str) -> Action:
    def act(paths: LabPaths, host: HostState) -> None:
        hosts.host_exec(paths, host, ["systemctl", *args])

    return act


def _fill_disk(paths: LabPaths, host: HostState) -> None:
    target = hosts.root_of(paths, host) / FILL_FILE
    free = os.statvfs(hosts.root_of(paths, host))
    with target.open("wb") as out:
        os.posix_fallocate(out.fileno(), 0, free.f_bavail * free.f_frsize)


def _free_disk(paths: LabPaths, host: HostState) -> None:
    (hosts.root_of(paths, host) / FILL_FILE).unlink(missing_ok=True)


def _block_repo(paths: LabPaths, host: HostState) -> None:
    rules = (
        f"table inet {_NFT_TABLE} {{\n chain out {{\n  type filter hook output priority 0\n"
        f"  ip daddr {PROVIDER_INTERFACE.ip} tcp dport {REPO_PORT} reject with tcp reset\n"
        " }\n}\n"
    )
    run(["ip", "netns", "exec", host.netns, "nft", "-f", "-"], input=rules)


def _unblock_repo(paths: LabPaths, host: HostState) -> None:
    run(
        ["ip", "netns", "exec", host.netns, "nft", "delete", "table", "inet", _NFT_TABLE],
        check=False,
    )


FAULTS: dict[str, tuple[Action, Action | None]] = {
    "network-down": (_network(False), _network(True)),
    "sshd-down": (_systemctl("stop", "ssh.service"), _systemctl("start", "ssh.service")),
    "disk-full": (_fill_disk, _free_disk),
    "repo-unreachable": (_block_repo, _unblock_repo),
    "sip-hang": (
        _systemctl("kill", "--signal=SIGSTOP", "labpbx.service"),
        _systemctl("kill", "--signal=SIGCONT", "labpbx.service"),
    ),
    "reboot": (_systemctl("reboot"), None),
}


def _target(settings: Settings, name: str) -> tuple[LabPaths, HostState]:
    paths = LabPaths.of(settings)
    state = load(paths.state_file)
    host = state.host(name) if state else None
    if host is None:
        raise NotFoundError(f"no lab host {name!r} (is the lab up? see `pbxops lab status`)")
    return paths, host


def _actions(kind: str) -> tuple[Action, Action | None]:
    if kind not in FAULTS:
        raise LabError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
    return FAULTS[kind]


def inject(settings: Settings, name: str, kind: str) -> None:
    """Break host ``name`` in the way ``kind`` names."""
    action, _ = _actions(kind)
    action(*_target(settings, name))


def clear(settings: Settings, name: str, kind: str) -> None:
    """Undo fault ``kind`` on host ``name``."""
    _, undo = _actions(kind)
    if undo is None:
        raise LabError(f"fault {kind!r} cannot be undone (it passes by itself)")
    undo(*_target(settings, name))
