"""Lab hosts that act as ansible-runner execution nodes.

A node needs ansible-runner and ansible-core. In the lab it gets the controller's own
Python environment: the virtualenv and the interpreter it was made from are bind-mounted
read-only at the same paths (the lab hosts are the same Debian release), so
``ansible-runner worker`` runs there exactly as it does on the controller. The worker runs
as root through ``sudo`` (the ops user may): a pyenv interpreter under ``/root`` is not
reachable for an unprivileged user.
"""

from __future__ import annotations

import sys
from ipaddress import IPv4Network
from pathlib import Path

from ..errors import LabError
from .specs import HostSpec


def node_binds() -> tuple[str, ...]:
    """The directories a node must see: this virtualenv and its base interpreter."""
    venv, base = Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()
    if venv == base:
        raise LabError("lab execution nodes need pbxops to run from a virtualenv (make setup)")
    binds = [str(venv)]
    if not str(base).startswith("/usr"):  # a Debian python3 is on the lab hosts already
        binds.append(str(base))
    return tuple(binds)


def execution_node_command() -> str:
    """``settings.execution_node_command`` for lab nodes: this venv's ansible-runner, with
    the venv first on PATH so the worker finds ansible-playbook."""
    bindir = Path(sys.prefix) / "bin"
    return f"sudo -n env PATH={bindir}:/usr/sbin:/usr/bin:/sbin:/bin {bindir}/ansible-runner"


def execution_node_specs(count: int, subnet: IPv4Network, first: int = 230) -> list[HostSpec]:
    """``node-1`` ... ``node-N`` at ``subnet`` + ``first`` upward. They sit in the targets'
    subnet: the lab bridge does not route between its /24s."""
    if not 1 <= count <= 20:
        raise LabError("between 1 and 20 execution nodes")
    binds = node_binds()
    return [
        HostSpec(f"node-{i + 1}", subnet.network_address + first + i, subnet, binds)
        for i in range(count)
    ]
