"""``wave abort``: the operator ends a wave for good. Hosts that never started are
cancelled; hosts found in flight from a dead run are marked failed (their state is unknown:
verify them by hand). Refused while a live run holds the wave."""

from __future__ import annotations

from ..errors import RefusedError
from ..ledger import Ledger
from ..ledger import waves as wl
from .engine import refusal
from .locks import live_holder
from .states import Command, Event, HostState, TransitionRefused, WaveState, command_rule, host_next


def abort(ledger: Ledger, wave_id: int, reason: str, actor: str) -> dict[str, int]:
    row = wl.get_wave(ledger, wave_id)
    assert row is not None
    state = WaveState(row.status)
    if not reason.strip():
        raise RefusedError("`wave abort` needs --reason TEXT (recorded with your name)")
    try:
        command_rule(state, Command.ABORT)
    except TransitionRefused:
        raise RefusedError(refusal(wave_id, state, Command.ABORT, row.reason)) from None
    if held := live_holder(ledger, f"wave:{wave_id}"):
        raise RefusedError(f"wave {wave_id} is being run right now ({held}); stop that run "
                           "(Ctrl-C) first, then abort")
    counts: dict[str, int] = {}
    for r in wl.host_rows(ledger, wave_id):
        if r.status == HostState.PENDING:
            why = f"not started: wave {wave_id} aborted by {actor}: {reason}"
        elif r.status == HostState.RUNNING:
            why = (f"in flight when its run died; wave aborted by {actor} without a "
                   "re-check: verify this host by hand")
        else:
            continue
        new = host_next(HostState(r.status), Event.ABORT)
        wl.update_host(ledger, wave_id, r.hostname, actor, summary=why, status=str(new),
                       outcome="cancelled", error=why)
        counts[new] = counts.get(new, 0) + 1
    wl.set_wave_status(ledger, wave_id, WaveState.ABORTED, f"aborted by {actor}: {reason}")
    return counts
