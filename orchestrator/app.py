"""Use cases the CLI (and tests) call. Each takes Settings and plain arguments and
returns plain data; no printing here."""

from __future__ import annotations

import smtplib
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import planner, systemd
from .context import actor_of, open_context
from .context import open_ledger as context_ledger
from .errors import BookIssue, NotFoundError, RefusedError
from .fleet import Fleet, entitled_rows, validate_book
from .inventory import render_inventory, static_inventory
from .ledger import ActionRecord, Ledger
from .ledger import waves as wl
from .ledger.models import as_utc
from .model import OsUpgrade, PbxRelease
from .planner import PlanOptions, WavePlan
from .settings import Settings
from .waves import Command, Driver, Engine, HostState, RunOptions, WaveOutcome
from .waves.abort import abort
from .waves.engine import Clock
from .waves.events import EventSink
from .waves.gates import Gates
from .waves.schedule import next_openings, render_units, unit_name
from .waves.states import FINISHED_WAVES, UNSUCCESSFUL, WaveState


def open_fleet(settings: Settings) -> Fleet:
    return open_context(settings).fleet


def open_ledger(settings: Settings, *, readonly: bool = False) -> Ledger:
    """The ledger as every command opens it (``orchestrator.context``): never migrated
    here; ``readonly`` for commands that only read (they create and change nothing)."""
    return context_ledger(settings, readonly=readonly)


def validate(settings: Settings) -> list[BookIssue]:
    return validate_book(settings.book)[1]


def fleet_summary(settings: Settings, on: date) -> list[dict[str, Any]]:
    """One row per customer: systems, phones, contracts active on ``on``."""
    fleet = open_fleet(settings)
    rows = []
    for c in fleet.customers:
        rows.append(
            {
                "customer": c.id,
                "name": c.name,
                "timezone": c.timezone,
                "systems": [s.hostname for s in c.systems],
                "phones": sum(len(s.phones) for s in c.systems),
                "extensions": sum(s.extensions for s in c.systems),
                "contracts": [f"{k.kind}:{k.id}" for k in c.contracts if k.active_on(on)],
            }
        )
    return rows


def entitled(settings: Settings, on: date) -> list[dict[str, Any]]:
    return entitled_rows(open_fleet(settings), on)


def inventory(
    settings: Settings, on: date, static: bool = False, customers: tuple[str, ...] = ()
) -> dict[str, Any]:
    inv = render_inventory(open_fleet(settings), on, customers)
    return static_inventory(inv) if static else inv


def db_upgrade(settings: Settings) -> tuple[str, list[str]]:
    """The one command that migrates an existing ledger (besides make setup)."""
    ledger = Ledger(settings.ledger, upgrade=False)
    return ledger.safe_url, ledger.upgrade()


def db_status(settings: Settings) -> dict[str, Any]:
    ledger = Ledger(settings.ledger, upgrade=False, readonly=True)
    current, heads = (ledger.current() if ledger.exists else set()), ledger.heads()
    return {
        "url": ledger.safe_url,
        "exists": ledger.exists,
        "current": sorted(current),
        "heads": sorted(heads),
        "up_to_date": current == heads,
    }


# -- update waves ------------------------------------------------------------------------


def _release(fleet: Fleet, release_id: str) -> PbxRelease | OsUpgrade:
    release = fleet.catalog.release(release_id)
    if release is None:
        known = ", ".join(r.id for r in fleet.catalog.releases) or "none"
        raise NotFoundError(f"unknown release {release_id!r} (known: {known})")
    return release


def plan_wave(
    settings: Settings,
    release_id: str,
    at: datetime | None = None,
    options: PlanOptions = PlanOptions(),
    save: bool = True,
) -> tuple[int | None, WavePlan]:
    """Plan a wave (pure planner) and save it in the ledger with an id."""
    fleet = open_fleet(settings)
    release = _release(fleet, release_id)
    now = at or datetime.now(UTC)
    plan = planner.plan_wave(fleet, release, now, options)
    if not plan.hosts and not plan.deferred:
        reasons = "; ".join(f"{e.hostname}: {e.reason}" for e in plan.excluded[:5])
        raise RefusedError(
            f"no system is eligible for {release_id}" + (f" ({reasons})" if reasons else "")
        )
    if not save:
        return None, plan
    rows = [
        {
            "hostname": h.hostname,
            "customer_id": h.customer,
            "contract_id": h.contract,
            "batch": b.index,
            "status": wl.PENDING,
        }
        for b in plan.batches
        for h in b.hosts
    ]
    rows += [
        {
            "hostname": e.hostname,
            "customer_id": e.customer,
            "contract_id": None,
            "batch": -1,
            "status": wl.EXCLUDED,
            "error": e.reason,
        }
        for e in plan.excluded
    ]
    rows += [
        {
            "hostname": e.hostname,
            "customer_id": e.customer,
            "contract_id": None,
            "batch": -1,
            "status": wl.DEFERRED,
            "error": e.reason,
        }
        for e in plan.deferred
    ]
    wave_id = wl.create_wave(
        open_ledger(settings), plan.to_dict(), actor(), rows, {"book": str(settings.book)}
    )
    return wave_id, plan


def open_waves_on(settings: Settings, plan: WavePlan, wave_id: int | None
                  ) -> list[tuple[int, list[str]]]:
    """Other unfinished waves of the same release that plan some of ``plan``'s hosts."""
    ledger = open_ledger(settings, readonly=True)
    mine = {h.hostname for h in plan.hosts}
    found: list[tuple[int, list[str]]] = []
    for w in wl.list_waves(ledger, limit=50):
        if w.id == wave_id or w.release_id != plan.release or WaveState(w.status) in FINISHED_WAVES:
            continue
        shared = sorted(mine & {r.hostname for r in wl.host_rows(ledger, w.id) if r.batch >= 0})
        if shared:
            found.append((w.id, shared))
    return found


def actor() -> str:
    """Who acts: the one rule of ``context.actor_of`` (PBXOPS_ACTOR > SUDO_USER > login)."""
    return actor_of()


def run_wave(
    settings: Settings,
    wave_id: int,
    options: RunOptions,
    on_event: EventSink | None = None,
    resume: bool = False,
    *,
    clock: Clock | None = None,
    driver: Driver | None = None,
) -> WaveOutcome:
    """Run (or resume) a saved wave; mail the result to the ops address. ``clock`` (default:
    the system clock) decides maintenance windows; tests pass their own. ``resume`` with
    ``options.override_reason`` is ``resume --override-halt``."""
    command = Command.RUN
    if resume:
        command = Command.OVERRIDE_HALT if options.override_reason else Command.RESUME
    return _drive(settings, wave_id, options, command, on_event, clock, driver)


def _drive(settings: Settings, wave_id: int, options: RunOptions, command: Command,
           on_event: EventSink | None, clock: Clock | None,
           driver: Driver | None) -> WaveOutcome:
    ledger = open_ledger(settings)
    engine = Engine(settings, ledger, open_fleet(settings), wave_id, options, command,
                    actor=actor(), on_event=on_event, clock=clock, driver=driver)
    outcome = engine.run()
    _mail_wave(settings, ledger, wave_id, outcome)
    return outcome


def _wave(ledger: Ledger, wave_id: int) -> wl.WaveRow:
    row = wl.get_wave(ledger, wave_id)
    if row is None:
        raise NotFoundError(f"no wave with id {wave_id} in the ledger")
    return row


def retry_failed(
    settings: Settings,
    wave_id: int,
    options: RunOptions,
    on_event: EventSink | None = None,
    *,
    clock: Clock | None = None,
    driver: Driver | None = None,
) -> WaveOutcome:
    """Run the failed, rolled-back and skipped hosts again; waiting hosts stay waiting."""
    ledger = open_ledger(settings)
    _wave(ledger, wave_id)
    rows = wl.host_rows(ledger, wave_id)
    again = [r.hostname for r in rows if HostState(r.status) in UNSUCCESSFUL]
    if not again:
        left = [r.hostname for r in rows if r.status in (wl.PENDING, wl.RUNNING)]
        hint = f"; `pbxops wave resume {wave_id}` goes on with its {len(left)} host(s) left" \
            if left else ""
        raise RefusedError(
            f"wave {wave_id} has no failed, rolled-back or skipped host to retry{hint}")
    opts = replace(options, only_hosts=tuple(again))
    return _drive(settings, wave_id, opts, Command.RETRY_FAILED, on_event, clock, driver)


def abort_wave(settings: Settings, wave_id: int, reason: str) -> dict[str, int]:
    """End a wave for good: hosts not started are cancelled (recorded with the reason)."""
    ledger = open_ledger(settings)
    _wave(ledger, wave_id)
    return abort(ledger, wave_id, reason, actor())


def schedule_wave(settings: Settings, wave_id: int, *, clock: Clock | None = None
                  ) -> list[datetime]:
    """Let the wave go on by itself at its pending hosts' next window openings (a systemd
    timer per wave, surviving a reboot). Returns the openings scheduled."""
    ledger = open_ledger(settings)
    row = _wave(ledger, wave_id)
    systemd.require_booted()
    state = WaveState(row.status)
    if state in FINISHED_WAVES or state == WaveState.HALTED:
        raise RefusedError(f"wave {wave_id} is {state}: nothing to schedule"
                           + (" (a halt needs an operator: `wave resume --override-halt`)"
                              if state == WaveState.HALTED else ""))
    now = (clock or (lambda: datetime.now(UTC)))()
    pending = [r.hostname for r in wl.host_rows(ledger, wave_id)
               if r.status in (wl.PENDING, wl.RUNNING)]
    openings = next_openings(wave_gates(settings, row), pending, now)
    if not openings:
        raise RefusedError(f"wave {wave_id} has no pending host with a window opening within "
                           "the plan's horizon")
    config = _schedule_config(settings, wave_id)
    argv = [sys.executable, "-m", "orchestrator.cli", "--config", str(config),
            "wave", "resume", str(wave_id), "--scheduled"]
    units = render_units(wave_id, openings, argv, str(settings.project_dir),
                         env={"PBXOPS_ACTOR": f"scheduler (for {actor()})"})
    systemd.install_timer(settings.systemd_unit_dir, unit_name(wave_id), units.service,
                          units.timer)
    options = {**row.options, "schedule": {"openings": [t.isoformat() for t in openings],
                                           "by": actor(), "at": now.isoformat()}}
    wl.set_wave_options(ledger, wave_id, options)
    ledger.record(ActionRecord("wave.schedule", "*", None,
                               f"wave {wave_id} scheduled at {len(openings)} window opening(s), "
                               f"first {openings[0].isoformat(timespec='minutes')}", actor(),
                               detail={"wave": wave_id}))
    return openings


def unschedule_wave(settings: Settings, wave_id: int, why: str = "") -> bool:
    """Remove the wave's timer (False: it had none)."""
    ledger = open_ledger(settings)
    row = _wave(ledger, wave_id)
    removed = systemd.remove_timer(settings.systemd_unit_dir, unit_name(wave_id))
    if "schedule" in row.options:
        wl.set_wave_options(ledger, wave_id,
                            {k: v for k, v in row.options.items() if k != "schedule"})
        ledger.record(ActionRecord("wave.unschedule", "*", None,
                                   f"wave {wave_id} unscheduled{': ' + why if why else ''}",
                                   actor(), detail={"wave": wave_id}))
    return removed


def resume_scheduled(settings: Settings, wave_id: int, options: RunOptions,
                     on_event: EventSink | None = None) -> WaveOutcome:
    """What the timer runs: resume, then re-plan the timer from the recorded states (the
    next openings), or remove it once the wave is finished or halted."""
    try:
        outcome = run_wave(settings, wave_id, options, on_event, resume=True)
    except RefusedError as exc:
        unschedule_wave(settings, wave_id, f"the scheduled resume was refused: {exc}")
        raise
    if outcome.status in (WaveState.WAITING, WaveState.PAUSED, WaveState.INTERRUPTED):
        try:
            schedule_wave(settings, wave_id)
        except RefusedError as exc:
            unschedule_wave(settings, wave_id, str(exc))
    else:
        unschedule_wave(settings, wave_id, f"wave {outcome.status}")
    return outcome


def _schedule_config(settings: Settings, wave_id: int) -> Path:
    """The settings the scheduled runs use (``systemd.settings_file``: no ledger password)."""
    return systemd.settings_file(settings, f"wave-{wave_id}")


def wave_gates(settings: Settings, row: wl.WaveRow) -> Gates:
    return Gates.of(open_fleet(settings), WavePlan.from_dict(row.plan).options.horizon_days)


def _next_firing(settings: Settings, row: wl.WaveRow) -> str:
    schedule = row.options.get("schedule")
    if not schedule:
        return ""
    at = systemd.next_elapse(unit_name(row.id))
    if at is not None:
        return at.isoformat(timespec="minutes")
    now = datetime.now(UTC)
    future = [t for t in schedule["openings"] if datetime.fromisoformat(t) >= now]
    return (future[0][:16] + " (recorded; timer not found here)") if future else ""


def wave_status(settings: Settings, wave_id: int | None) -> list[dict[str, Any]]:
    ledger = open_ledger(settings, readonly=True)
    one = wave_id is not None
    waves = [_wave(ledger, wave_id)] if wave_id is not None else wl.list_waves(ledger)
    out = []
    for w in waves:
        counts: dict[str, int] = {}
        for r in wl.host_rows(ledger, w.id):
            counts[r.status] = counts.get(r.status, 0) + 1
        out.append(
            {
                "id": w.id,
                "release": w.release_id,
                "target": w.target,
                "status": w.status,
                "reason": w.reason,
                "created_at": _iso(w.created_at),
                "created_by": w.created_by,
                "hosts": counts,
                "overrides": w.options.get("overrides", []),
                "next_run": _next_firing(settings, w),
                **({"host_rows": _host_states(ledger, w.id)} if one else {}),
            }
        )
    return out


def _iso(at: datetime | None) -> str:
    """A stored moment as UTC ISO text to the second ('' when not set)."""
    return as_utc(at).isoformat(timespec="seconds") if at else ""


def _host_states(ledger: Ledger, wave_id: int) -> list[dict[str, Any]]:
    """Each host's state and current step (what `wave status ID` shows)."""
    return [{"host": r.hostname, "batch": r.batch, "status": r.status, "step": r.step,
             "attempts": r.attempts, "error": r.error} for r in wl.host_rows(ledger, wave_id)]


def wave_report(settings: Settings, wave_id: int) -> list[dict[str, Any]]:
    """One row per host: contract, versions, timings, outcome, error."""
    ledger = open_ledger(settings, readonly=True)
    _wave(ledger, wave_id)
    rows = []
    for r in wl.host_rows(ledger, wave_id):
        took = (
            (r.finished_at - r.started_at).total_seconds()
            if r.started_at and r.finished_at
            else None
        )
        rows.append(
            {
                "host": r.hostname,
                "customer": r.customer_id,
                "contract": r.contract_id,
                "batch": r.batch,
                "status": r.status,
                "version_before": r.version_before,
                "version_after": r.version_after,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "seconds": round(took, 1) if took is not None else "",
                "attempts": r.attempts,
                "step": r.step,
                "windows_overridden": bool(r.detail.get("windows_overridden", False)),
                "verified_on_resume": bool(r.detail.get("verified_on_resume", False)),
                "backup": str(r.detail.get("backup", "")),
                "error": r.error,
            }
        )
    return rows


def wave_mail_failure(settings: Settings, wave_id: int) -> str | None:
    """Why the wave's latest summary mail was not sent (its ledger line), None if it was."""
    mails = [a for a in open_ledger(settings, readonly=True).actions(customer_id="*", kind_prefix="wave.mail")
             if (a.detail or {}).get("wave") == wave_id]
    return mails[-1].summary if mails and mails[-1].outcome == "failed" else None


def _mail_wave(settings: Settings, ledger: Ledger, wave_id: int, outcome: WaveOutcome) -> None:
    """The wave's result to the ops address; a mail failure is recorded, never fatal."""
    from email.message import EmailMessage

    from .sla.notify import Mailer, send

    rows = wave_report(settings, wave_id)
    msg = EmailMessage()
    counts = ", ".join(f"{v} {k}" for k, v in sorted(outcome.counts.items()))
    msg["Subject"] = f"[pbxops wave {wave_id}] {outcome.status}: {counts}"
    msg["From"] = settings.ops_email
    msg["To"] = settings.ops_email
    lines = [
        f"{r['host']:<20} {r['status']:<12} {r['version_before'] or '-':>8} -> "
        f"{r['version_after'] or '-':<8} {r['contract'] or '-':<22} {r['error'][:80]}"
        for r in rows
    ]
    msg.set_content(
        f"Wave {wave_id}: {outcome.status}. {outcome.reason}\n\n" + "\n".join(lines) + "\n"
    )
    try:
        send(Mailer(settings.smtp_host, settings.smtp_port, settings.ops_email), msg)
        summary, result = f"wave {wave_id} report mailed to {settings.ops_email}", "ok"
    except (OSError, smtplib.SMTPException) as exc:
        summary, result = f"wave {wave_id} report NOT mailed: {exc}", "failed"
    ledger.record(
        ActionRecord(
            "wave.mail", "*", None, summary, actor(), outcome=result, detail={"wave": wave_id}
        )
    )
