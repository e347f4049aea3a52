"""Benchmark: a pbxops wave against the same host work done by plain parallel ``ssh``.

The physical limit of the main job (issue 17). On a 20-host synthetic lab, interleaved and
repeated, side by side in one run:

- **pbxops**: ``pbxops wave plan --release pbx-18.1`` + ``pbxops wave run ID
  --ignore-windows`` (as bench/wave_overhead.py runs it);
- **raw-ssh**: the same batches of the same plan (canary, then the batches, one after
  another; the hosts of a batch at once), each host doing the wave's host work as one
  ``ssh host sudo -n bash -c '<one-liner>'`` per step:

  1. precheck: OS release, free space on / and /var, the dpkg lock, the installed version,
     the service state, SIP OPTIONS (the roles' own probe code,
     roles/pbx_common/module_utils/pbx_host.py), the config digest,
     the update marker;
  2. drain: the profile's calls command (``labpbx-cli calls``) until 0;
  3. backup: the config digest, a tgz of the config dir kept on the host and streamed to
     the controller (the fetch), the "started" marker;
  4. install: ``apt-get update`` + ``apt-get install labpbx=<pinned>`` (non-interactive);
  5. restart: ``systemctl restart labpbx``;
  6. verify: SIP OPTIONS until 200 (2 s apart, as the role), service state, version,
     config digest, all checked, the "finished" marker.

  Every ssh of a host goes through one master connection per host (ControlMaster, as
  pbxops' ControlPersist does); each measurement starts with none.

Every host is put back on 18.0.0 before each measurement (outside the timing) and both
variants check afterwards that all hosts answer SIP with 18.1.0. The ratio is pbxops / raw.

Afterwards one batch of the last pbxops round is profiled from ansible-runner's job events
(``runs/<ident>/artifacts/run/job_events``): wall time of the batch, seconds per task
(summed over the batch's hosts), per host, and the time between tasks that no task accounts
for; the raw-ssh side's seconds per step come from the last raw round.

The machine is shared (2 cores; other work may run): compare the ratios, measured side by
side, not absolute seconds across runs.

    python bench/wave_floor.py [--hosts 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from _lab20 import REPO, Lab, cold_ssh, lab_of, median, reset_hosts, result, timed, warm_apt
from wave_overhead import check_updated, plain_batches, run_pbxops

from orchestrator.platforms import LABPBX

SIP_SCRIPT = ((REPO / "roles" / "pbx_common" / "module_utils" / "pbx_host.py").read_text()
              + "\nimport sys\nprint(json.dumps(sip_options(sys.argv[1], int(sys.argv[2]))))\n")
MARKER = "/var/lib/pbxops/last_update.json"
DIGEST = (
    f"(cd {LABPBX.config_dir} && find . -type f -print0 | sort -z | xargs -0 -r sha256sum "
    "| sha256sum | cut -d' ' -f1)"
)
STEPS = ("precheck", "drain", "backup", "install", "restart", "verify")


def _sip(address: str) -> str:
    """Shell: SIP OPTIONS to the host's own PBX with the roles' probe code (prints its JSON)."""
    return f"python3 - {shlex.quote(address)} 5060 <<'PY'\n{SIP_SCRIPT}\nPY\n"


def step_script(step: str, address: str, package: str, version: str) -> str:
    """The shell one-liner (plus the SIP script where needed) of one step."""
    pkg, svc, ver = shlex.quote(package), LABPBX.service, shlex.quote(version)
    if step == "precheck":
        return (
            "set -e; cat /etc/debian_version; df --output=avail -m / /var | tail -n +2 | "
            "awk '$1 < 300 {exit 1}'; for i in $(seq 60); do fuser /var/lib/dpkg/lock-frontend "
            "/var/lib/dpkg/lock >/dev/null 2>&1 || break; sleep 1; done; "
            f"dpkg-query --show --showformat='${{Version}}\\n' {pkg}; "
            f'test "$(systemctl show -p ActiveState --value {svc})" = active; '
            f"{DIGEST}; cat {MARKER} 2>/dev/null || true; {_sip(address)}"
        )
    if step == "drain":
        return (
            f"for i in $(seq 12); do [ \"$({LABPBX.calls_command} | awk '{{print $1; exit}}')\" "
            "= 0 ] && exit 0; sleep 10; done; exit 1"
        )
    if step == "backup":
        return (
            f"set -eo pipefail; d=$( {DIGEST} ); v=$(dpkg-query --show --showformat='${{Version}}' "
            f"{pkg}); install -d -m 0700 {LABPBX.backup_dir} {Path(MARKER).parent}; "
            f"f={LABPBX.backup_dir}/config-$v-${{d:0:12}}.tgz; "
            f'tar czf "$f" -C {Path(LABPBX.config_dir).parent} {Path(LABPBX.config_dir).name}; '
            f'chmod 0600 "$f"; printf \'{{"target": "%s", "version_before": '
            f'"%s", "backup": "%s"}}\\n\' {ver} "$v" "$f" > {MARKER}; chmod 0600 {MARKER}; '
            'cat "$f"'
        )
    if step == "install":
        return (
            "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null; "
            f"apt-get install -y -q -o Dpkg::Options::=--force-confold "
            f"{shlex.quote(f'{package}={version}')} >/dev/null"
        )
    if step == "restart":
        return f"systemctl restart {svc}"
    if step == "verify":
        return (
            f"set -e; ver={ver}; for i in $(seq 10); do out=$({_sip(address).rstrip()}\n); "
            f"case $out in *'\"status\": 200'*) break;; esac; sleep 2; done; "
            f'case $out in *\'"status": 200\'*"$ver"*) ;; *) echo "SIP: $out"; exit 1;; esac; '
            f'test "$(systemctl show -p ActiveState --value {svc})" = active; '
            f"test \"$(dpkg-query --show --showformat='${{Version}}' {pkg})\" = \"$ver\"; "
            f'{DIGEST}; sed -i \'s/}}$/, "result": "updated"}}/\' {MARKER}'
        )
    raise ValueError(step)


def run_raw(
    lb: Lab, batches: list[list[str]], package: str, version: str
) -> tuple[float, dict[str, dict[str, float]]]:
    """Seconds for every batch, one after another, and each host's seconds per step."""
    per_host: dict[str, dict[str, float]] = defaultdict(dict)
    fetched = lb.work / "raw-backups"
    fetched.mkdir(exist_ok=True)
    with cold_ssh(lb.work, "raw") as cp:
        ssh = [
            "ssh",
            "-F",
            str(lb.ssh_config),
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={cp}/%C",
            "-o",
            "ControlPersist=120",
        ]

        def host_work(host: str) -> None:
            for step in STEPS:
                script = step_script(step, lb.addresses[host], package, version)
                started = time.monotonic()
                proc = subprocess.run(
                    [*ssh, host, f"sudo -n bash -c {shlex.quote(script)}"],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    check=False,
                    timeout=300,
                )
                per_host[host][step] = time.monotonic() - started
                if proc.returncode != 0:
                    raise SystemExit(
                        f"raw ssh {host} {step} failed ({proc.returncode}): "
                        f"{proc.stdout[-500:]!r} {proc.stderr[-500:]!r}"
                    )
                if step == "backup":
                    (fetched / f"{host}.tgz").write_bytes(proc.stdout)

        def all_batches() -> None:
            for hosts in batches:
                with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
                    list(pool.map(host_work, hosts))

        return timed(all_batches), per_host


# -- profile of one batch from ansible-runner's job events ---------------------------------


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def batch_profile(run_dir: Path) -> dict[str, Any]:
    """Where the seconds of one ansible-runner run (one batch) go, from its job events."""
    events = [json.loads(p.read_text()) for p in (run_dir / "job_events").glob("*.json")]
    created = sorted(_ts(e["created"]) for e in events if e.get("created"))
    per_task: dict[str, list[float]] = defaultdict(list)
    per_host: dict[str, float] = defaultdict(float)
    task_spans: dict[str, list[float]] = {}
    for e in events:
        data = e.get("event_data", {})
        if e.get("event") not in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            continue
        if not data.get("start") or not data.get("end"):
            continue
        start, end = _ts(data["start"]), _ts(data["end"])
        name = data.get("task", "?")
        per_task[name].append(end - start)
        per_host[data.get("host", "?")] += end - start
        span = task_spans.setdefault(f"{data.get('task_uuid')}", [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    busy = _union(sorted(task_spans.values()))
    wall = created[-1] - created[0] if created else 0.0
    return {
        "wall_s": wall,
        "tasks_run": sum(len(v) for v in per_task.values()),
        "task_results": len(task_spans),
        "busy_s": busy,  # some host was inside some task
        "between_tasks_s": wall - busy,
        "per_task": {k: (sum(v), max(v), len(v)) for k, v in per_task.items()},
        "per_host": dict(per_host),
    }


def _union(spans: list[list[float]]) -> float:
    total, cur_start, cur_end = 0.0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def print_profile(
    lb: Lab, batch_hosts: int, raw_steps: dict[str, dict[str, float]], last: tuple[float, float]
) -> None:
    """``last``: (epoch when the last pbxops round's wave run started, its seconds)."""
    runs = sorted(
        (
            p
            for p in lb.settings.runs_dir.glob("*/artifacts/run/job_events")
            if p.stat().st_mtime >= last[0]
        ),
        key=lambda p: p.stat().st_mtime,
    )
    in_playbooks = sum(batch_profile(p.parent)["wall_s"] for p in runs)
    print(
        f"\nlast pbxops wave run {last[1]:.1f}s: {len(runs)} ansible-runner runs (batches), "
        f"{in_playbooks:.1f}s between their first and last job event, {last[1] - in_playbooks:.1f}s "
        "outside them (ansible-playbook start-up and connection set-up before the first "
        "event, the engine, ledger, controller SIP probes, mail)"
    )
    prof = None
    for events in reversed(runs):  # the last pbxops round's last batch of the wanted size
        candidate = batch_profile(events.parent)
        prof = prof or candidate
        if len(candidate["per_host"]) == batch_hosts:
            prof = candidate
            break
    if prof is None:
        print("profile: no ansible-runner artifacts found")
        return
    hosts = sorted(prof["per_host"])
    print(
        f"profile of one pbxops batch ({len(hosts)} hosts): ansible-runner wall "
        f"{prof['wall_s']:.1f}s, {prof['task_results']} tasks ({prof['tasks_run']} host "
        f"results); some host inside a task {prof['busy_s']:.1f}s, between tasks "
        f"{prof['between_tasks_s']:.1f}s"
    )
    print("  seconds per task (sum over hosts / slowest host / hosts), top 15:")
    top = sorted(prof["per_task"].items(), key=lambda kv: -kv[1][0])[:15]
    for name, (total, slowest, n) in top:
        print(f"    {total:6.1f} {slowest:5.1f} {n:2d}  {name[:60]}")
    rest = sum(v[0] for k, v in prof["per_task"].items() if k not in dict(top))
    print(f"    {rest:6.1f}             the other {len(prof['per_task']) - len(top)} tasks")
    print(
        "  per host (seconds inside tasks): "
        + ", ".join(f"{h} {prof['per_host'][h]:.1f}" for h in hosts)
    )
    raw_hosts = [h for h in raw_steps if h in prof["per_host"]] or list(raw_steps)[:batch_hosts]
    if raw_hosts:
        print(
            "  raw ssh, same hosts, median seconds per step: "
            + ", ".join(
                f"{s} {statistics.median(raw_steps[h][s] for h in raw_hosts):.2f}" for s in STEPS
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with lab_of(args.hosts) as lb:
        warm_apt(lb)
        batches, _, extravars = plain_batches(lb)
        packages = dict(extravars["pbx_update_packages"])  # type: ignore[call-overload]
        ((package, version),) = packages.items()
        print(
            f"wave of {args.hosts} hosts in batches of {[len(b) for b in batches]}, "
            f"strategy {lb.settings.strategy}; raw ssh: {len(STEPS)} ssh per host "
            f"({', '.join(STEPS)}) over one master connection per host"
        )
        wave: list[float] = []
        wave_run: list[float] = []
        raw: list[float] = []
        raw_steps: dict[str, dict[str, float]] = {}
        last = (0.0, 0.0)
        for i in range(args.rounds):
            order = ("pbxops", "raw") if i % 2 == 0 else ("raw", "pbxops")
            for variant in order:
                reset_hosts(lb)
                if variant == "pbxops":
                    started = time.time()
                    total, ran = run_pbxops(lb)
                    last = (started, ran)
                    wave.append(total)
                    wave_run.append(ran)
                else:
                    seconds, raw_steps = run_raw(lb, batches, package, version)
                    raw.append(seconds)
                check_updated(lb, variant)
            print(
                f"round {i + 1}: pbxops plan+run {wave[-1]:5.1f}s (run {wave_run[-1]:5.1f}s), "
                f"raw ssh {raw[-1]:5.1f}s",
                flush=True,
            )
        m_wave, m_run, m_raw = median(wave), median(wave_run), median(raw)
        print(
            f"median of {args.rounds}: pbxops plan+run {m_wave:.1f}s, run only {m_run:.1f}s, "
            f"raw ssh {m_raw:.1f}s -> ratio {m_wave / m_raw:.2f}x (run only "
            f"{m_run / m_raw:.2f}x; target <= 2x)"
        )
        print(
            "shared 2-core machine: compare the ratio (measured side by side), not the "
            "seconds of other runs"
        )
        result(
            "wave_floor",
            hosts=args.hosts,
            rounds=args.rounds,
            strategy=lb.settings.strategy,
            batches=[len(b) for b in batches],
            pbxops_s=round(m_wave, 2),
            pbxops_run_s=round(m_run, 2),
            raw_ssh_s=round(m_raw, 2),
            ratio=round(m_wave / m_raw, 2),
            ratio_run_only=round(m_run / m_raw, 2),
            target="<= 2",
        )
        print_profile(lb, max(len(b) for b in batches), raw_steps, last)
        reset_hosts(lb)


if __name__ == "__main__":
    main()
