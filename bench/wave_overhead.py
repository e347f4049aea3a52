"""Benchmark: what pbxops adds on top of Ansible for one update wave (target <= 1.10x).

On a 20-host synthetic lab, interleaved and repeated:

- **pbxops**: ``pbxops wave plan --release pbx-18.1`` + ``pbxops wave run ID
  --ignore-windows`` (two CLI processes: planning, ledger rows before/after every host step,
  ansible-runner event processing, the controller's own SIP probe per host, the mail attempt);
- **plain**: ``ansible-playbook playbooks/pbx_update.yml`` once per batch of the same plan
  (canary, then the batches; a wave is that sequence), with exactly what the executor gives
  ansible-runner: the same ansible.cfg and ANSIBLE_* environment (``executor._envvars``),
  forks, strategy (the shipped mitogen_linear unless ``--strategy`` says otherwise), static
  inventory, ``--limit`` and extravars (``waves.releasevars.playbook_and_vars``).

Every host is put back on the baseline 18.0.0 before each measurement (apt downgrade inside
the host, outside the timing) and each measurement starts with no SSH master connection.
Both variants verify afterwards that all 20 hosts answer SIP with 18.1.0.

    python bench/wave_overhead.py [--hosts 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import replace

from _lab20 import (
    BIN,
    REPO,
    Lab,
    base_env,
    cold_ssh,
    lab_of,
    median,
    reset_hosts,
    result,
    run_checked,
    timed,
    versions,
    warm_apt,
)

from orchestrator import app, executor
from orchestrator.waves.releasevars import playbook_and_vars

RELEASE, TARGET = "pbx-18.1", "18.1.0"


def pbxops_env(lb: Lab, cp: str) -> dict[str, str]:
    s = lb.settings
    return base_env() | {
        "PBXOPS_BOOK": str(s.book),
        "PBXOPS_STATE_DIR": str(s.state_dir),
        "PBXOPS_LEDGER_URL": s.ledger,
        "PBXOPS_SSH_CONFIG": str(lb.ssh_config),
        "PBXOPS_SMTP_PORT": "1",
        "PBXOPS_STRATEGY": s.strategy,
        "ANSIBLE_SSH_CONTROL_PATH_DIR": cp,
    }


def run_pbxops(lb: Lab) -> tuple[float, float]:
    """(seconds for plan + run, seconds for run alone) of one real wave via the CLI."""
    with cold_ssh(lb.work, "pbxops") as cp:
        env = pbxops_env(lb, str(cp))
        plan_out: dict[str, str] = {}

        def plan() -> None:
            proc = subprocess.run(
                [str(BIN / "pbxops"), "wave", "plan", "--release", RELEASE, "--json"],
                env=env, cwd=REPO, capture_output=True, text=True, check=True,
            )
            plan_out["id"] = str(json.loads(proc.stdout)["wave"])

        def run() -> None:
            argv = [str(BIN / "pbxops"), "wave", "run", plan_out["id"], "--ignore-windows"]
            run_checked(argv, env, "pbxops wave run")

        planned = timed(plan)
        ran = timed(run)
    return planned + ran, ran


def plain_batches(lb: Lab) -> tuple[list[list[str]], str, dict[str, object]]:
    """The plan's batches and the playbook + extravars the wave engine would pass, taken
    from its own releasevars (a throwaway wave in a separate ledger)."""
    s = lb.settings.model_copy(update={"ledger_url": f"sqlite:///{lb.work}/plain.sqlite"})
    wave_id, plan = app.plan_wave(s, RELEASE)
    assert wave_id is not None
    release = app.open_fleet(s).catalog.release(plan.release)
    assert release is not None
    playbook, extravars = playbook_and_vars(
        release, wave_id=wave_id, fetch_dir=s.state_dir / "backups" / f"wave-{wave_id}",
        rollback=True, call_poll_seconds=10)
    extravars = executor.playbook_extravars(s, extravars)  # as run_playbook passes them
    return [[h.hostname for h in b.hosts] for b in plan.batches], playbook, extravars


def run_plain(lb: Lab, batches: list[list[str]], playbook: str, extravars: dict[str, object]) -> float:
    s = lb.settings
    (s.state_dir / "ansible-tmp").mkdir(parents=True, exist_ok=True)
    with cold_ssh(lb.work, "plain") as cp:

        def run() -> None:
            for hosts in batches:
                forks = max(1, min(s.forks, len(hosts)))
                env = base_env() | executor._envvars(s, forks)
                env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(cp)
                argv = [
                    str(BIN / "ansible-playbook"), "-i", str(lb.inventory),
                    "--limit", ",".join(hosts), "-e", json.dumps(extravars),
                    "--forks", str(forks), str(REPO / "playbooks" / playbook),
                ]
                run_checked(argv, env, f"ansible-playbook on {hosts}")

        return timed(run)


def check_updated(lb: Lab, what: str) -> None:
    found = versions(lb)
    wrong = {h: v for h, v in found.items() if v != TARGET}
    if wrong:
        raise SystemExit(f"{what}: hosts not on {TARGET} afterwards: {wrong}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--strategy", help="both sides (default: the shipped one)")
    args = ap.parse_args()
    with lab_of(args.hosts) as shipped:
        lb = replace(shipped, settings=shipped.settings.model_copy(
            update={"strategy": args.strategy or shipped.settings.strategy}))
        warm_apt(lb)
        batches, playbook, extravars = plain_batches(lb)
        print(f"wave of {args.hosts} hosts in batches of {[len(b) for b in batches]}, "
              f"strategy {lb.settings.strategy} on both sides")
        wave: list[float] = []
        wave_run: list[float] = []
        plain: list[float] = []
        for i in range(args.rounds):
            order = ("pbxops", "plain") if i % 2 == 0 else ("plain", "pbxops")
            for variant in order:
                reset_hosts(lb)
                if variant == "pbxops":
                    total, ran = run_pbxops(lb)
                    wave.append(total)
                    wave_run.append(ran)
                else:
                    plain.append(run_plain(lb, batches, playbook, extravars))
                check_updated(lb, variant)
            print(
                f"round {i + 1}: pbxops plan+run {wave[-1]:5.1f}s (run {wave_run[-1]:5.1f}s), "
                f"plain ansible-playbook {plain[-1]:5.1f}s", flush=True,
            )
        m_wave, m_run, m_plain = median(wave), median(wave_run), median(plain)
        print(
            f"median of {args.rounds}: pbxops plan+run {m_wave:.1f}s, run only {m_run:.1f}s, "
            f"plain ansible-playbook per batch {m_plain:.1f}s -> overhead "
            f"{m_wave / m_plain:.3f}x (run only {m_run / m_plain:.3f}x; target <= 1.10x)"
        )
        reset_hosts(lb)
        result(
            "wave_overhead", hosts=args.hosts, rounds=args.rounds, strategy=lb.settings.strategy,
            batches=[len(b) for b in batches], pbxops_s=round(m_wave, 2),
            pbxops_run_s=round(m_run, 2), plain_s=round(m_plain, 2),
            ratio=round(m_wave / m_plain, 3), ratio_run_only=round(m_run / m_plain, 3),
            target="<= 1.10",
        )


if __name__ == "__main__":
    main()
