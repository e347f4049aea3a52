"""``pbxops wave``: plan and run PBX updates and OS upgrades across entitled customers."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.text import Text

from .. import app
from ..planner import PlanOptions, WavePlan
from ..waves import RunOptions, WaveOutcome
from ..waves import events as ev
from . import settings_of
from .output import console, json_option, print_json, print_table

EXIT_HALTED, EXIT_FAILURES, EXIT_WAITING = 10, 11, 12


@click.group("wave")
def group() -> None:
    """Update waves: plan, run, resume, retry, status and report."""


@group.command("plan")
@click.option("--release", "release_id", required=True, help="Release id from releases.yml.")
@click.option("--customers", "customers", multiple=True, help="Only these customers (repeatable).")
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]),
    help="Plan as of this time (UTC; default: now).",
)
@click.option(
    "--canary",
    "canary_size",
    type=int,
    default=1,
    show_default=True,
    help="Hosts in the canary batch.",
)
@click.option(
    "--batch-size", type=int, default=5, show_default=True, help="Hosts per batch after the canary."
)
@click.option(
    "--batch-percent",
    type=float,
    help="Batch size as a percentage of the wave (overrides --batch-size).",
)
@click.option(
    "--horizon",
    "horizon_days",
    type=int,
    default=7,
    show_default=True,
    help="Days ahead to look for maintenance windows.",
)
@click.option("--dry-run", is_flag=True, help="Show the plan without saving it.")
@json_option
@click.pass_context
def plan(
    ctx: click.Context,
    release_id: str,
    customers: tuple[str, ...],
    at: datetime | None,
    canary_size: int,
    batch_size: int,
    batch_percent: float | None,
    horizon_days: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Plan a wave for RELEASE: entitled systems only, canary first, each host in its window."""
    if at is not None and not 2000 <= at.year <= 2999:
        raise click.BadParameter(f"{at:%Y-%m-%d} is outside the years 2000-2999",
                                 param_hint="--at")
    options = PlanOptions(canary_size, batch_size, batch_percent, horizon_days, customers)
    when = at.replace(tzinfo=UTC) if at else None
    wave_id, wave = app.plan_wave(settings_of(ctx), release_id, when, options, save=not dry_run)
    for other, shared in app.open_waves_on(settings_of(ctx), wave, wave_id):
        click.echo(f"warning: wave {other} (not finished) plans {release_id} for "
                   f"{len(shared)} of these hosts too ({', '.join(shared[:5])}"
                   f"{', ...' if len(shared) > 5 else ''}); `pbxops wave abort {other} "
                   "--reason ...` if this plan replaces it", err=True)
    if as_json:
        print_json({"wave": wave_id, **wave.to_dict()})
        return
    _show_plan(wave_id, wave)


def _show_plan(wave_id: int | None, wave: WavePlan) -> None:
    head = f"Wave {wave_id}" if wave_id else "Wave (not saved)"
    rows = [
        [
            b.name,
            h.customer,
            h.hostname,
            h.contract,
            f"{h.sla_reaction_hours:g} h",
            f"{h.window_start[:16]} {h.timezone}",
        ]
        for b in wave.batches
        for h in b.hosts
    ]
    print_table(
        f"{head}: {wave.release} -> {wave.target}, {len(rows)} systems in {len(wave.batches)} batches",
        ["batch", "customer", "system", "contract", "reaction", "first window (local)"],
        rows,
    )
    if wave.excluded or wave.deferred:
        print_table(
            "Not in this wave",
            ["customer", "system", "reason"],
            [[e.customer, e.hostname, e.reason] for e in (*wave.excluded, *wave.deferred)],
        )
    for kind, items in wave.changes.items():
        click.echo(f"{kind}: " + "; ".join(items))
    if wave_id:
        click.echo(f"\nRun it with: pbxops wave run {wave_id}")


def _run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option(
            "--rollback-on-failure/--no-rollback",
            default=True,
            show_default=True,
            help="Roll a failed host back to its recorded version and configuration.",
        ),
        click.option(
            "--max-failures", type=int, help="Halt when more hosts than this have failed."
        ),
        click.option(
            "--max-failure-percent",
            type=float,
            default=20.0,
            show_default=True,
            help="Halt when this share of attempted hosts failed.",
        ),
        click.option(
            "--min-attempted",
            type=int,
            default=3,
            show_default=True,
            help="Hosts attempted before the percentage can halt the wave.",
        ),
        click.option(
            "--wait-for-windows",
            "wait_minutes",
            type=int,
            default=0,
            show_default=True,
            help="Minutes to wait for a closed window to open (else: resume later).",
        ),
        click.option(
            "--ignore-windows",
            is_flag=True,
            help="Emergency: update outside maintenance windows (recorded per host).",
        ),
        click.option(
            "--call-poll-seconds",
            type=int,
            default=10,
            show_default=True,
            help="Seconds between checks for active calls while draining.",
        ),
        json_option,
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _options(kw: dict[str, Any]) -> RunOptions:
    return RunOptions(
        rollback_on_failure=kw["rollback_on_failure"],
        max_failures=kw["max_failures"],
        max_failure_percent=kw["max_failure_percent"],
        min_attempted=kw["min_attempted"],
        ignore_windows=kw["ignore_windows"],
        max_window_wait=timedelta(minutes=kw["wait_minutes"]),
        call_poll_seconds=kw["call_poll_seconds"],
        override_reason=kw.get("reason") or "",
    )


class _Progress:
    """One line per host state change and batch; JSON lines with --json."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.out = console(err=False)
        self.done = self.failed = 0
        self.waited = False
        self.live = False  # a live task line is on the screen (to be erased before a line)

    def __call__(self, typed: ev.WaveEvent) -> None:
        event = typed.to_dict()
        if self.as_json:
            sys.stdout.write(json.dumps(event, default=str) + "\n")
            sys.stdout.flush()
            return
        kind = event["event"]
        if kind == "task" and event.get("ansible") == "playbook_on_task_start":
            self._live(str(event.get("task") or ""))
            return
        self.erase_live()
        if kind == "batch_started":
            self.out.print(f"[bold]{event['batch']}[/]: {', '.join(event['hosts'])}")
        elif kind == "host_state":
            self._host(event)
        elif kind in ("waiting_for_window", "recheck"):
            self.out.print(
                f"  {kind.replace('_', ' ')}: {', '.join(event['hosts'])} {event.get('until', '')}"
            )
        elif kind == "node_down":
            self.out.print(f"  [yellow]execution node {event['node']} left out[/]: {event['reason']}")
        elif kind == "interrupted":
            self.out.print(f"[yellow]{event['reason']}[/]")
        elif kind == "waiting_for_orphans" and not self.waited:
            self.waited = True  # said once; the wait is polled every 2 s
            self.out.print(f"  waiting for the ansible-playbook of an earlier run to finish "
                           f"(pids {', '.join(map(str, event['pids']))})")

    def _live(self, task: str) -> None:
        """The task in flight, overwritten in place on a terminal (padded to the width, so
        a shorter name leaves nothing of a longer one); not written to pipes and logs."""
        if self.out.is_terminal:
            width = max(20, self.out.width - 3)
            text = "".join(c if c.isprintable() else " " for c in task)[:width].ljust(width)
            self.out.print(Text(f"  {text}", style="dim"), end="\r")
            self.live = True

    def erase_live(self) -> None:
        """Blank the live line before any other line is printed over it (a host line shorter
        than the task name left the name's tail on the screen)."""
        if self.live:
            self.out.print(" " * (self.out.width - 1), end="\r", markup=False)
            self.live = False

    def _host(self, event: dict[str, Any]) -> None:
        state = event["state"]
        self.done += state in ("done", "already_at_target")
        self.failed += state in ("failed", "rolled_back")
        color = {"done": "green", "failed": "red", "rolled_back": "yellow", "running": "cyan"}.get(
            state, "white"
        )
        self.out.print(
            f"  [{color}]{state:<11}[/] {event['host']:<18} {event['summary']}"
            f"   [dim]({self.done} done, {self.failed} failed)[/]"
        )


def _finish(ctx: click.Context, outcome: WaveOutcome, as_json: bool, progress: _Progress) -> None:
    progress.erase_live()
    if as_json:  # one JSON line, the last one, after the event lines
        result = {"event": "result", "wave": outcome.wave_id, "status": outcome.status,
                  "reason": outcome.reason, "hosts": outcome.hosts}
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(outcome.counts.items()))
        click.echo(f"wave {outcome.wave_id}: {outcome.status} ({counts}) {outcome.reason}".rstrip())
    if failure := app.wave_mail_failure(settings_of(ctx), outcome.wave_id):
        click.echo(f"warning: {failure}; see pbxops wave report {outcome.wave_id}", err=True)
    code = {
        "halted": EXIT_HALTED,
        "completed_with_failures": EXIT_FAILURES,
        "waiting": EXIT_WAITING,
        "paused": EXIT_WAITING,
    }
    if outcome.status in code:
        ctx.exit(code[outcome.status])


@group.command("run")
@click.argument("wave_id", type=int)
@_run_options
@click.pass_context
def run(ctx: click.Context, /, wave_id: int, as_json: bool, **kw: Any) -> None:
    """Run a planned wave. Exit 0 all done, 10 halted, 11 done with failures, 12 waiting for windows."""
    progress = _Progress(as_json)
    outcome = app.run_wave(settings_of(ctx), wave_id, _options(kw), progress)
    _finish(ctx, outcome, as_json, progress)


@group.command("resume")
@click.argument("wave_id", type=int)
@click.option("--override-halt", is_flag=True,
              help="Go on past a halt (failed canary, budget); needs --reason; recorded.")
@click.option("--reason", help="Why the halt is overridden (recorded with your name).")
@click.option("--scheduled", is_flag=True,
              help="Run by the wave's systemd timer: re-plan or remove the timer afterwards.")
@_run_options
@click.pass_context
def resume(ctx: click.Context, /, wave_id: int, as_json: bool, override_halt: bool,
           scheduled: bool, **kw: Any) -> None:
    """Resume a wave after a crash, Ctrl-C or closed windows: re-checks hosts that were in
    flight, never updates a completed host twice. A halted wave stays halted unless
    --override-halt --reason TEXT. Exit codes as `wave run`."""
    if override_halt and not (kw.get("reason") or "").strip():
        raise click.UsageError("--override-halt needs --reason TEXT")
    if kw.get("reason") and not override_halt:
        raise click.UsageError("--reason goes with --override-halt")
    progress = _Progress(as_json)
    if scheduled:
        outcome = app.resume_scheduled(settings_of(ctx), wave_id, _options(kw), progress)
    else:
        outcome = app.run_wave(settings_of(ctx), wave_id, _options(kw), progress, resume=True)
    _finish(ctx, outcome, as_json, progress)


@group.command("states")
def states() -> None:
    """The wave state machine: every command, where it goes, and how a run ends."""
    from ..waves.states import markdown_table

    click.echo(markdown_table())


@group.command("schedule")
@click.argument("wave_id", type=int)
@json_option
@click.pass_context
def schedule(ctx: click.Context, wave_id: int, as_json: bool) -> None:
    """Let the wave go on by itself at its hosts' next window openings: a systemd timer
    (survives a reboot; a missed opening fires at boot), removed when the wave is done or
    halted. Needs systemd on this machine; the result is mailed to the ops address."""
    openings = app.schedule_wave(settings_of(ctx), wave_id)
    if as_json:
        print_json({"wave": wave_id, "openings": [t.isoformat() for t in openings]})
        return
    click.echo(f"wave {wave_id} scheduled: next at {openings[0].isoformat(timespec='minutes')}"
               f" ({len(openings)} opening(s)); `pbxops wave unschedule {wave_id}` stops it")


@group.command("unschedule")
@click.argument("wave_id", type=int)
@click.pass_context
def unschedule(ctx: click.Context, wave_id: int) -> None:
    """Remove the wave's timer (the wave itself stays as it is)."""
    removed = app.unschedule_wave(settings_of(ctx), wave_id, "by the operator")
    click.echo(f"wave {wave_id}: " + ("timer removed" if removed else "had no timer"))


@group.command("abort")
@click.argument("wave_id", type=int)
@click.option("--reason", required=True, help="Why the wave ends here (recorded).")
@json_option
@click.pass_context
def abort(ctx: click.Context, wave_id: int, reason: str, as_json: bool) -> None:
    """End a wave for good: hosts not started are cancelled. Refused while it runs."""
    if not reason.strip():
        raise click.UsageError("--reason TEXT must say why (it is recorded)")
    counts = app.abort_wave(settings_of(ctx), wave_id, reason)
    if as_json:
        print_json({"wave": wave_id, "status": "aborted", "hosts": counts})
        return
    done = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no host changed"
    click.echo(f"wave {wave_id}: aborted ({done})")


@group.command("retry-failed")
@click.argument("wave_id", type=int)
@_run_options
@click.pass_context
def retry_failed(ctx: click.Context, /, wave_id: int, as_json: bool, **kw: Any) -> None:
    """Run the failed, rolled-back and skipped hosts of a wave again; hosts waiting for their
    windows stay waiting. Exit codes as `wave run`."""
    progress = _Progress(as_json)
    outcome = app.retry_failed(settings_of(ctx), wave_id, _options(kw), progress)
    _finish(ctx, outcome, as_json, progress)


@group.command("status")
@click.argument("wave_id", type=int, required=False)
@json_option
@click.pass_context
def status(ctx: click.Context, wave_id: int | None, as_json: bool) -> None:
    """Status of one wave, or of the most recent waves."""
    rows = app.wave_status(settings_of(ctx), wave_id)
    if as_json:
        print_json(rows)
        return
    if wave_id is not None:
        _show_one(rows[0])
        return
    print_table(
        "Waves",
        ["id", "release", "target", "status", "hosts", "reason"],
        [
            [
                r["id"],
                r["release"],
                r["target"],
                r["status"],
                ", ".join(f"{v} {k}" for k, v in sorted(r["hosts"].items())),
                r["reason"],
            ]
            for r in rows
        ],
    )


def _show_one(w: dict[str, Any]) -> None:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(w["hosts"].items()))
    click.echo(f"Wave {w['id']}: {w['release']} -> {w['target']}: {w['status']} ({counts})")
    if w["reason"]:
        click.echo(f"  {w['reason']}")
    if w["next_run"]:
        click.echo(f"  next scheduled run: {w['next_run']}")
    for o in w["overrides"]:
        click.echo(f"  halt overridden by {o['actor']} at {o['at'][:16]}: {o['reason']}")
    print_table(
        "Hosts",
        ["host", "batch", "state", "step", "tries", "error"],
        [[h["host"], h["batch"], h["status"], h["step"], h["attempts"], h["error"]]
         for h in w["host_rows"]],
    )


@group.command("report")
@click.argument("wave_id", type=int)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)
@click.pass_context
def report(ctx: click.Context, wave_id: int, fmt: str, out: str | None) -> None:
    """Per-host results of a wave against each contract; CSV/JSON export."""
    rows = app.wave_report(settings_of(ctx), wave_id)
    if fmt == "table" and not out:
        cols = [
            "host",
            "customer",
            "contract",
            "status",
            "version_before",
            "version_after",
            "seconds",
            "windows_overridden",
            "error",
        ]
        print_table(f"Wave {wave_id}", cols, [[r[c] for c in cols] for r in rows])
        return
    text = json.dumps(rows, indent=2) + "\n" if fmt == "json" else _csv(rows)
    if out:
        from ..fsutil import atomic_write

        atomic_write(out, text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()
