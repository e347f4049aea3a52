"""Active monitoring: per-host health checks, the parallel sweep, Prometheus exposition.

- ``checks``: PURE evaluation of what a host reported (thresholds, version drift).
- ``sweep``: run the checks on many hosts at once (SSH for host facts, SIP OPTIONS from the
  controller), one thread per host up to ``workers``.
- ``prom``: the sweep as Prometheus metrics (text file or HTTP endpoint).
- ``service``: sweep + open incidents for failing hosts (what ``health sweep`` runs).
"""

from .checks import Check, HostFacts, HostHealth, Thresholds, evaluate
from .sweep import SweepOptions, SweepResult, sweep

__all__ = [
    "Check",
    "HostFacts",
    "HostHealth",
    "SweepOptions",
    "SweepResult",
    "Thresholds",
    "evaluate",
    "sweep",
]
