"""The strategy pbxops ships: Mitogen by default, linear when Mitogen is not installed (with
a warning), and whatever the settings name otherwise."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from orchestrator import executor
from orchestrator.settings import load_settings


def test_the_default_strategy_is_mitogen_and_its_plugin_is_installed() -> None:
    s = load_settings(env={}, args={})
    assert s.strategy == "mitogen_linear"
    env = executor.strategy_env(s.strategy)
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear" and "PBXOPS_STRATEGY_FALLBACK" not in env
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    assert executor._strategy_vars(s.strategy)["mitogen_ssh_keepalive_interval"] == 10


def test_without_mitogen_the_run_falls_back_to_linear_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ansible_mitogen" else real(name, *a))
    monkeypatch.setattr(executor, "_FELL_BACK", set())
    with caplog.at_level(logging.WARNING, logger="orchestrator.executor"):
        env = executor.strategy_env("mitogen_linear")
        executor.strategy_env("mitogen_linear")
    assert env == {"ANSIBLE_STRATEGY": "linear", "PBXOPS_STRATEGY_FALLBACK": "mitogen not installed"}
    assert [r.getMessage() for r in caplog.records] == [
        "strategy mitogen_linear: Mitogen is not installed, running with linear"]


@pytest.mark.parametrize("name", ["linear", "free"])
def test_other_strategies_are_passed_through(name: str) -> None:
    assert executor.strategy_env(name) == {"ANSIBLE_STRATEGY": name}
    assert executor._strategy_vars(name) == {}
