"""``pbxops lint`` passes on this repository and fails on a deliberate lint error."""

from __future__ import annotations

import json

from click.testing import CliRunner

from orchestrator.cli import main
from tests.conftest import DEMO_BOOK, REPO


def test_lint_passes_on_the_repository() -> None:
    result = CliRunner().invoke(main, ["--book", str(DEMO_BOOK), "lint", "--json"])
    data = json.loads(result.output)
    failing = {c["check"]: c["findings"] for c in data["checks"] if not c["ok"]}
    assert result.exit_code == 0, failing
    assert {c["check"] for c in data["checks"]} == {
        "book",
        "yamllint",
        "ansible-lint",
        "syntax-check",
        "templates",
    }


def test_lint_fails_on_a_playbook_with_a_deliberate_error() -> None:
    project = REPO / "tests" / "fixtures" / "lint_bad"
    result = CliRunner().invoke(main, ["--book", str(DEMO_BOOK), "lint", "--project", str(project)])
    assert result.exit_code == 1
    assert "playbooks/bad.yml:4: [ansible-lint] fqcn[action-core]" in result.output
    assert "playbooks/bad.yml:2: [ansible-lint] name[play]" in result.output
    assert "FAIL ansible-lint" in result.output


def test_lint_names_a_template_syntax_error() -> None:
    project = REPO / "tests" / "fixtures" / "lint_bad"
    result = CliRunner().invoke(
        main, ["--book", str(DEMO_BOOK), "lint", "--project", str(project), "--check", "templates"]
    )
    assert result.exit_code == 1
    assert "templates/broken.j2:3: [templates]" in result.output
