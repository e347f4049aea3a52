"""Running the system tools the lab drives, with readable errors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import LabError


def need(tool: str, package: str) -> str:
    """The path of ``tool``, or a LabError naming the Debian package that provides it."""
    path = shutil.which(tool)
    if path is None:
        raise LabError(f"{tool} not found: install the Debian package {package}")
    return path


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float = 300,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; on failure raise LabError with the command and its last stderr line."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: no result after {timeout:g}s") from exc
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {_last_line(done.stderr or done.stdout)}")
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["failed"])[-1 if not errors else 0]
