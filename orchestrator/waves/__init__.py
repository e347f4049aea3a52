"""The wave engine: states.py (the one state machine), gates.py, budget.py, recovery.py,
results.py, releasevars.py, locks.py, steps.py, events.py, engine.py (the loop)."""

from .engine import Driver, Engine, RunOptions, WaveOutcome
from .states import Command, HostState, WaveState

__all__ = ["Command", "Driver", "Engine", "HostState", "RunOptions", "WaveOutcome", "WaveState"]
