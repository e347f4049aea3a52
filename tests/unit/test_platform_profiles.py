"""Every platform the book accepts has an update profile in the pbx_update role."""

from __future__ import annotations

from typing import get_args

import yaml

from orchestrator.model.customer import Platform
from tests.conftest import REPO

DEFAULTS = REPO / "roles" / "pbx_update" / "defaults" / "main.yml"
KEYS = {"installer", "service", "config_dir", "calls_command", "version_command"}


def test_each_platform_has_a_complete_profile() -> None:
    profiles = yaml.safe_load(DEFAULTS.read_text())["pbx_update_profiles"]
    assert set(profiles) == set(get_args(Platform))
    for name, profile in profiles.items():
        assert set(profile) == KEYS, name
        assert profile["installer"] in {"apt", "fwconsole"}, name
        assert profile["service"] and profile["config_dir"].startswith("/"), name


def test_installers_have_their_tasks() -> None:
    tasks = REPO / "roles" / "pbx_update" / "tasks"
    update = (tasks / "update.yml").read_text()
    rollback = (tasks / "rollback.yml").read_text()
    for text in (update, rollback):
        assert "pbx_update_installer == 'apt'" in text
        assert "pbx_update_installer == 'fwconsole'" in text
    assert "fwconsole ma downloadinstall framework" in (tasks / "fwconsole.yml").read_text()
