"""`pbxops lint` lints the checkout it is run in (issue 16): from another checkout with the
same venv it once linted the tree pbxops was installed from and named no path, so a broken
playbook under review passed. It names the tree it checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.lint import find_project, lint_target
from orchestrator.settings import REPO_ROOT, load_settings
from tests.conftest import DEMO_BOOK, REPO


@pytest.fixture
def other_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout under review with a broken playbook and template; the run starts in a
    subdirectory of it."""
    checkout = tmp_path / "review"
    shutil.copytree(REPO / "tests" / "fixtures" / "lint_bad", checkout)
    (checkout / "roles").mkdir()
    monkeypatch.chdir(checkout / "playbooks")
    for name in ("PBXOPS_PROJECT_DIR", "PBXOPS_BOOK", "PBXOPS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return checkout


def test_lint_checks_the_checkout_it_runs_in_and_says_so(other_checkout: Path) -> None:
    out = CliRunner().invoke(main, ["--book", str(DEMO_BOOK), "lint", "--check", "templates"])
    assert out.exit_code == 1, out.output
    assert f"linting {other_checkout} (the current directory)" in out.output
    assert "templates/broken.j2:3: [templates]" in out.output


def test_lint_json_names_the_project(other_checkout: Path) -> None:
    out = CliRunner().invoke(main, ["--book", str(DEMO_BOOK), "lint", "--check", "templates",
                                    "--json"])
    data = json.loads(out.output)
    assert data["project"] == str(other_checkout)
    assert data["project_from"] == "the current directory" and not data["ok"]


def test_outside_any_project_lint_names_the_installed_tree(tmp_path: Path) -> None:
    target = lint_target(load_settings({}, env={}), None, tmp_path)
    assert target.project == REPO_ROOT.resolve() and "installed tree" in target.why
    assert target.book == (REPO_ROOT / "inventory" / "demo").resolve()


def test_project_option_and_configured_dir_win_over_the_current_directory(
    other_checkout: Path, tmp_path: Path
) -> None:
    settings = load_settings({}, env={})
    assert lint_target(settings, tmp_path, other_checkout).why == "--project"
    configured = load_settings({}, env={"PBXOPS_PROJECT_DIR": str(REPO_ROOT)})
    assert lint_target(configured, None, other_checkout).project == REPO_ROOT.resolve()
    assert find_project(other_checkout / "playbooks") == other_checkout
