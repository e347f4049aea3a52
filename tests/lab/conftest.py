"""A real lab for the session: up once, ALWAYS torn down (failure, Ctrl-C, SIGTERM, exit).

The lab uses its own run dir so a developer's `pbxops lab up` state is never touched; the
bridge and provider address are shared, so a lab already up elsewhere fails the session
with a clear message instead of being disturbed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

import pytest

from orchestrator import lab
from orchestrator.settings import Settings, load_settings

T = TypeVar("T")
_NETTED: set[Path] = set()
_TERMINATED: list[int] = []  # signals received
TEST_RUN_DIR = "/run/pbxops-lab-test"


def _can_run_lab() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root"
    if shutil.which("systemd-nspawn") is None:
        return "lab tests need systemd-nspawn (Debian package systemd-container)"
    return None


@pytest.fixture(scope="session")
def lab_settings() -> Settings:
    return load_settings(args={"lab_run_dir": TEST_RUN_DIR})


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Stop the session before the next test once SIGTERM/SIGHUP arrived (ansible-runner
    turns an exception raised during a run into a canceled run: one test fails, and without
    this the session would go on)."""
    if _TERMINATED:
        pytest.exit(f"terminated by signal {_TERMINATED[0]}", returncode=128 + _TERMINATED[0])


def _install_safety_net(settings: Settings) -> None:
    if settings.lab_run_dir in _NETTED:
        return
    _NETTED.add(settings.lab_run_dir)
    atexit.register(lab.down, settings)

    def on_term(signum: int, frame: FrameType | None) -> None:
        _TERMINATED.append(signum)  # if something below swallows the exit, no next test starts
        raise SystemExit(128 + signum)  # unwinds through the fixture's finally

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


@pytest.fixture(scope="module")
def lab3(lab_settings: Settings) -> Iterator[lab.LabState]:
    """Three synthetic hosts (lab-01..03) running the baseline release."""
    with running_lab(lab_settings, lab.synthetic_specs(3)) as state:
        yield state


def eventually(check: Callable[[], T], timeout: float = 30.0, every: float = 0.3) -> T:
    """Poll ``check`` until it returns something truthy; return that (or the last value)."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = check()
    return value


@contextmanager
def running_lab(settings: Settings, specs: list[lab.HostSpec]) -> Iterator[lab.LabState]:
    """Bring a lab up for one test module and ALWAYS take it down again. Lab fixtures are
    module-scoped: each module gets the hosts it needs, one lab at a time."""
    reason = _can_run_lab()
    if reason:
        pytest.skip(reason)
    lab.down(settings)  # leftovers of an interrupted earlier run of this suite
    if Path("/sys/class/net/pbxlab0").exists():
        pytest.fail("another lab is up on this machine: run `pbxops lab down` first")
    _install_safety_net(settings)
    try:
        yield lab.up(settings, specs)
    finally:
        lab.down(settings)
