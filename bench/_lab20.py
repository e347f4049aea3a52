"""Shared by the Ansible benchmarks (wave_overhead, defaults_speedup, floor): a synthetic
lab of N hosts under the machine-wide lab lock (always torn down), a contract book that
entitles every lab host to updates, host reset to the baseline PBX version, cold SSH
connection caches per measurement, and the ``RESULT {json}`` line.

Not a benchmark itself (run_all.py skips files starting with ``_``).
"""

from __future__ import annotations

import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator import executor, lab  # noqa: E402
from orchestrator.fleet import load_book  # noqa: E402
from orchestrator.inventory import render_inventory, static_inventory  # noqa: E402
from orchestrator.settings import Settings, load_settings  # noqa: E402
from orchestrator.sipprobe import probe  # noqa: E402

BENCH_RUN_DIR = "/run/pbxops-lab-bench"
LOCK = Path("/run/lock/pbxops-lab-tests.lock")
DEMO = REPO / "inventory" / "demo"
BASELINE = "18.0.0"
BIN = Path(sys.executable).parent
ALWAYS = {"slots": ["mon-sun 00:00-24:00"]}


@dataclass(frozen=True)
class Lab:
    settings: Settings  # book, state dir, sqlite ledger, the lab's ssh_config
    hosts: list[str]
    addresses: dict[str, str]
    work: Path  # scratch directory of this benchmark run
    inventory: Path  # the static inventory the executor would write (YAML-in-JSON)

    @property
    def ssh_config(self) -> Path:
        assert self.settings.ssh_config is not None
        return self.settings.ssh_config


def write_book(specs: list[lab.HostSpec], root: Path) -> Path:
    """One customer with every synthetic lab host, entitled to updates, window always open."""
    (root / "customers").mkdir(parents=True, exist_ok=True)
    subnets = sorted({str(spec.subnet) for spec in specs})
    customer = {
        "id": "bench",
        "name": "Bench",
        "timezone": "Europe/Berlin",
        "contacts": [{"email": "it@bench.example"}],
        "sites": [{"id": f"s{i}", "subnet": net} for i, net in enumerate(subnets)],
        "systems": [
            {
                "hostname": spec.name,
                "site": f"s{subnets.index(str(spec.subnet))}",
                "address": str(spec.address),
                "platform": "asterisk",
                "pbx_profile": "labpbx",
                "deployment": "hardware",
                "os_release": "12",
                "extensions": 5,
                "licences": [{"kind": "user", "count": 5}],
                "maintenance_window": ALWAYS,
            }
            for spec in specs
        ],
        "contracts": [
            {
                "id": "bench-swm",
                "kind": "software_maintenance",
                "start": "2020-01-01",
                "end": "2099-12-31",
                "call_drain_minutes": 2,
            }
        ],
    }
    (root / "customers" / "bench.yml").write_text(yaml.safe_dump(customer, sort_keys=False))
    (root / "releases.yml").write_text((DEMO / "releases.yml").read_text())
    return root


@contextmanager
def lab_of(count: int) -> Iterator[Lab]:
    """Take the machine-wide lab lock, bring up ``count`` synthetic hosts, ALWAYS take
    them down again. Lab-up time is not part of any measurement."""
    base = load_settings(args={"lab_run_dir": BENCH_RUN_DIR})  # shipped strategy (Mitogen)
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock, tempfile.TemporaryDirectory(prefix="pbxops-bench-") as tmp:
        print("waiting for the machine-wide lab lock ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)  # one lab on this machine at a time
        specs = lab.synthetic_specs(count)
        work = Path(tmp)
        lab.down(base)
        try:
            started = time.monotonic()
            lab.up(base, specs)
            print(f"lab up: {count} hosts in {time.monotonic() - started:.1f}s (not measured)")
            settings = base.model_copy(
                update={
                    "book": write_book(specs, work / "book"),
                    "state_dir": work / "state",
                    "ledger_url": f"sqlite:///{work}/ledger.sqlite",
                    "smtp_port": 1,
                    "ssh_config": lab.LabPaths.of(base).ssh_config,
                }
            )
            fleet = load_book(settings.book)
            inv = work / "inventory.json"
            inv.write_text(json.dumps(static_inventory(render_inventory(fleet, datetime.now(UTC).date()))))
            yield Lab(
                settings,
                [s.name for s in specs],
                {s.name: str(s.address) for s in specs},
                work,
                inv,
            )
        finally:
            lab.down(base)


def in_hosts(lb: Lab, script: str) -> None:
    """Run ``sh -c script`` as root in every lab host (no ssh: nothing warms a connection)."""

    def one(host: str) -> None:
        lab.run_in_host(lb.settings, host, ["sh", "-c", script])

    with ThreadPoolExecutor(max_workers=len(lb.hosts)) as pool:
        list(pool.map(one, lb.hosts))


def versions(lb: Lab) -> dict[str, str | None]:
    with ThreadPoolExecutor(max_workers=len(lb.hosts)) as pool:
        got = pool.map(lambda h: probe(lb.addresses[h], timeout=3).version, lb.hosts)
        return dict(zip(lb.hosts, got, strict=True))


def reset_hosts(lb: Lab, version: str = BASELINE) -> None:
    """Put every host back on ``version`` (apt downgrade + restart) and wait for SIP. The
    package cache is emptied so every measured run downloads the update like the first."""
    in_hosts(
        lb,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades "
        f"-o Dpkg::Options::=--force-confold labpbx={version} >/dev/null "
        "&& apt-get clean && systemctl restart labpbx",  # every run downloads its .deb
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = versions(lb)
        if all(v == version for v in found.values()):
            return
        time.sleep(0.5)
    raise SystemExit(f"hosts did not come back on {version}: {found}")


def warm_apt(lb: Lab) -> None:
    """The first apt-get update of a fresh host downloads the indexes; later ones only
    revalidate. Do the first one outside any measurement."""
    in_hosts(lb, "apt-get update -q >/dev/null")


@contextmanager
def cold_ssh(work: Path, tag: str) -> Iterator[Path]:
    """A fresh ControlPath directory for one measurement (no master connection survives
    from an earlier run); afterwards every master left in it is stopped."""
    cp = Path(tempfile.mkdtemp(prefix=f"cp-{tag}-", dir=work))
    try:
        yield cp
    finally:
        stop_masters(cp)


def stop_masters(cp: Path) -> None:
    for sock in cp.iterdir():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "controlled-by-socket"],
            capture_output=True,
            check=False,
            timeout=10,
        )


def timed(func: Callable[[], None]) -> float:
    started = time.monotonic()
    func()
    return time.monotonic() - started


def run_checked(argv: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )


def median(values: list[float]) -> float:
    return statistics.median(values)


def result(bench: str, **fields: Any) -> None:
    print("RESULT " + json.dumps({"bench": bench, **fields}), flush=True)


def base_env() -> dict[str, str]:
    """The environment every variant starts from: no PBXOPS_*/ANSIBLE_* leaking in from the
    caller's shell, the venv's tools first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBXOPS_", "ANSIBLE_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


# -- the read-only "facts + 6 tasks" job (defaults_speedup, floor) -----------------------

JOB = REPO / "bench" / "playbooks" / "read_state.yml"
FLOOR_COMMAND = (
    "sudo -n sh -c 'uname -r; cat /etc/debian_version; dpkg-query -W -f=\"${Version}\\n\" labpbx;"
    " systemctl show -p ActiveState labpbx; df --output=avail -m /; mkdir -p /var/lib/pbxops-bench'"
)
VARIANTS = {
    "ansible-defaults": "no ansible.cfg, forks 5, no pipelining, no ControlPersist, facts",
    "ansible-defaults+cp": "as ansible-defaults but keeping Ansible's own ssh_args "
    "(-C -o ControlMaster=auto -o ControlPersist=60s)",
    "pbxops": "shipped ansible.cfg + executor settings (forks 20, pipelining, ControlPersist, "
    "gathering explicit, strategy mitogen_linear)",
    "pbxops+facts": "as pbxops but gathering facts (ANSIBLE_GATHERING=implicit)",
    "pbxops-linear": "as pbxops with strategy linear (what runs where Mitogen is not installed)",
}


def job_env(lb: Lab, variant: str, cp: Path) -> tuple[dict[str, str], list[str]]:
    """Environment and extra ansible-playbook arguments of one variant. Every variant uses
    the lab's ssh_config (its known_hosts: host keys are verified)."""
    env = base_env() | {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp), "ANSIBLE_NOCOLOR": "1"}
    if variant.startswith("ansible-defaults"):
        empty = lb.work / "empty-ansible.cfg"
        empty.touch()
        env["ANSIBLE_CONFIG"] = str(empty)
        # ssh_args replaces Ansible's default ssh_args (and so drops ControlPersist);
        # ssh_common_args only adds to them.
        key = "ANSIBLE_SSH_COMMON_ARGS" if variant.endswith("+cp") else "ANSIBLE_SSH_ARGS"
        env[key] = f"-F {lb.ssh_config}"
        return env, []
    settings = lb.settings
    if variant == "pbxops-linear":
        settings = settings.model_copy(update={"strategy": "linear"})
    (settings.state_dir / "ansible-tmp").mkdir(parents=True, exist_ok=True)
    forks = max(1, min(settings.forks, len(lb.hosts)))
    env |= executor._envvars(settings, forks)
    if "PBXOPS_STRATEGY_FALLBACK" in env:
        raise SystemExit(f"shipped strategy not usable: {env['PBXOPS_STRATEGY_FALLBACK']}")
    if variant == "pbxops+facts":
        env["ANSIBLE_GATHERING"] = "implicit"
    extravars = executor.playbook_extravars(settings, {})  # as executor.run_playbook passes
    return env, ["--forks", str(forks), *(["-e", json.dumps(extravars)] if extravars else [])]


def run_job(lb: Lab, variant: str) -> float:
    """Seconds for the read-only job on every lab host, cold SSH caches."""
    with cold_ssh(lb.work, variant) as cp:
        env, extra = job_env(lb, variant, cp)
        argv = [str(BIN / "ansible-playbook"), "-i", str(lb.inventory), *extra, str(JOB)]
        return timed(lambda: run_checked(argv, env, f"{variant} job"))


def run_floor(lb: Lab) -> float:
    """Seconds for one raw ``ssh host 'cmd'`` per host, all hosts at once (no multiplexing)."""

    def all_at_once() -> None:
        procs = [
            subprocess.Popen(
                ["ssh", "-F", str(lb.ssh_config), "-o", "ControlMaster=no", host, FLOOR_COMMAND],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for host in lb.hosts
        ]
        for host, proc in zip(lb.hosts, procs, strict=True):
            out, err = proc.communicate(timeout=120)
            if proc.returncode != 0 or "ActiveState=active" not in out:
                raise SystemExit(f"ssh {host} failed ({proc.returncode}): {out} {err}")

    return timed(all_at_once)


def measure(lb: Lab, variants: list[str], rounds: int) -> dict[str, list[float]]:
    """Interleaved: every round runs every variant once, in a rotated order."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    for i in range(rounds):
        order = variants[i % len(variants):] + variants[: i % len(variants)]
        for v in order:
            times[v].append(run_floor(lb) if v == "floor" else run_job(lb, v))
        print(f"round {i + 1}: " + ", ".join(f"{v} {times[v][-1]:.2f}s" for v in variants), flush=True)
    return times
