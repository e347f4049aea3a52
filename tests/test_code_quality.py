"""CI runs the code checks too: ruff over the package, tests, benchmarks, the roles' Python
(modules, filters) and the inventory script; mypy --strict over the package (configured in
pyproject.toml). A finding fails the suite with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "argv",
    [
        [str(BIN / "ruff"), "check", "orchestrator", "tests", "bench", "roles", "inventory"],
        [str(BIN / "mypy"), "orchestrator"],
    ],
    ids=["ruff", "mypy"],
)
def test_code_checks_pass(argv: list[str]) -> None:
    if not Path(argv[0]).exists():
        pytest.fail(f"{argv[0]} is not installed (run: make setup)")
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
