"""Halt verdicts, recomputed from the recorded host states every time they are asked for
(before each batch, before each group of hosts starts, and when a run ends). A verdict
stands until the operator overrides exactly that verdict (``resume --override-halt``); a
new failure changes the verdict's text and halts the wave again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .states import FAILURES, SUCCESS, HostState


@dataclass(frozen=True)
class Budget:
    max_failures: int | None = None  # absolute count that halts the wave
    max_failure_percent: float = 20.0  # of hosts attempted so far
    min_attempted: int = 3  # attempts before the percentage can trip


def canary_verdict(states: Mapping[str, HostState], canary: frozenset[str]) -> str:
    """The canary's verdict: failed, or finished without proving the release."""
    mine = [s for h, s in states.items() if h in canary]
    failed = sum(s in FAILURES for s in mine)
    if failed:
        return (f"the canary failed ({failed} host(s)): the release is marked failed for "
                "this wave and no host beyond the canary starts")
    if mine and any(s == HostState.SKIPPED for s in mine) and not any(s in SUCCESS for s in mine):
        return ("the canary was skipped by its pre-checks, so the release is unproven; "
                "no further host starts")
    return ""


def budget_verdict(states: Mapping[str, HostState], budget: Budget) -> str:
    failures = sum(s in FAILURES for s in states.values())
    attempted = sum(s in FAILURES or s in SUCCESS for s in states.values())
    if budget.max_failures is not None and failures > budget.max_failures:
        return f"{failures} failures exceed the budget of {budget.max_failures}"
    if attempted >= budget.min_attempted and failures * 100 > budget.max_failure_percent * attempted:
        return (f"{failures} of {attempted} attempted hosts failed "
                f"(> {budget.max_failure_percent:g}%); no further host starts")
    return ""


def verdict(states: Mapping[str, HostState], canary: frozenset[str], budget: Budget,
            overridden: frozenset[str]) -> str:
    """The halt verdict that stands now ('' when none)."""
    for text in (canary_verdict(states, canary), budget_verdict(states, budget)):
        if text and text not in overridden:
            return text
    return ""
