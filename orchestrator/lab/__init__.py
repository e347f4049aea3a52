"""The local test lab: customer PBX hosts as network namespaces booted with systemd-nspawn,
a signed apt repository of PBX releases, and a real SIP service on every host.

Public API (the CLI, tests and benchmarks use only these):

- ``up(settings, specs, report)`` / ``down(settings)`` / ``lab_status(settings)``
- ``specs_from_book(path)`` / ``synthetic_specs(n)`` -> ``list[HostSpec]``
- ``LabPaths.of(settings)``: ``ssh_config``, ``known_hosts``, ``ssh_key`` for Ansible and ssh
- ``ssh_argv(paths, host, command)``, ``host_exec`` via ``run_in_host(settings, host, argv)``
- ``take_snapshot`` / ``restore_snapshot``: a host's writable layer (rollback of OS upgrades)
- ``inject_fault`` / ``clear_fault`` (kinds in ``faults.FAULTS``), ``hold_call(address)``
- ``execution_node_specs(n, subnet)`` / ``execution_node_command()``: hosts that run
  ``ansible-runner worker`` (see ``nodes.py``)
- ``rt``: the lab's Request Tracker 5 (``rt.up`` / ``rt.down`` / ``rt.status`` /
  ``rt.secret``) on the provider side, and the RT server helpers the tests share
"""

from __future__ import annotations

from ..errors import NotFoundError
from ..settings import Settings
from . import hosts, rt
from .calls import HeldCall, hold_call
from .core import down, ssh_argv, up
from .faults import FAULTS
from .faults import clear as clear_fault
from .faults import inject as inject_fault
from .nodes import execution_node_command, execution_node_specs
from .paths import LabPaths
from .repo import REPO_URL
from .snapshots import restore as restore_snapshot
from .snapshots import take as take_snapshot
from .specs import PROVIDER_INTERFACE, HostSpec, specs_from_book, synthetic_specs
from .state import HostState, LabState, load
from .status import HostStatus, lab_status


def lab_state(settings: Settings) -> LabState | None:
    """The running lab as recorded, or None."""
    return load(LabPaths.of(settings).state_file)


def run_in_host(settings: Settings, name: str, argv: list[str]) -> str:
    """Run ``argv`` as root inside lab host ``name`` without ssh; returns stdout."""
    state = lab_state(settings)
    host = state.host(name) if state else None
    if host is None:
        raise NotFoundError(f"no lab host {name!r}")
    return hosts.host_exec(LabPaths.of(settings), host, argv)


__all__ = [
    "FAULTS",
    "PROVIDER_INTERFACE",
    "REPO_URL",
    "HeldCall",
    "HostSpec",
    "HostState",
    "HostStatus",
    "LabPaths",
    "LabState",
    "clear_fault",
    "down",
    "execution_node_command",
    "execution_node_specs",
    "hold_call",
    "inject_fault",
    "lab_state",
    "lab_status",
    "restore_snapshot",
    "rt",
    "run_in_host",
    "specs_from_book",
    "ssh_argv",
    "synthetic_specs",
    "take_snapshot",
    "up",
]
