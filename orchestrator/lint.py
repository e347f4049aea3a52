"""``pbxops lint``: the CI check of everything Ansible and the book, in one summary.

Checks: book validation, yamllint, ansible-lint (production profile), ``ansible-playbook
--syntax-check`` of every playbook, and rendering of every template (Jinja2 syntax of
role and document templates; phone templates rendered against the book).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .errors import ConfigError
from .fleet import validate_book
from .settings import Settings


@dataclass(frozen=True)
class Finding:
    check: str
    location: str
    message: str


@dataclass(frozen=True)
class CheckResult:
    check: str
    findings: tuple[Finding, ...]
    detail: str = ""  # what was checked, e.g. "7 playbooks"

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class Target:
    """The tree a lint checks and why that one: a CI job in another checkout must lint
    that checkout, never silently the tree pbxops was installed from."""

    project: Path
    book: Path
    why: str


def find_project(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` with playbooks/ and roles/."""
    for folder in (start, *start.parents):
        if (folder / "playbooks").is_dir() and (folder / "roles").is_dir():
            return folder
    return None


def lint_target(settings: Settings, explicit: Path | None, cwd: Path) -> Target:
    """--project > a configured project_dir > the project around the current directory >
    the installed tree. The book follows the project (its inventory/demo) unless set."""
    if explicit is not None:
        project, why = explicit, "--project"
    elif "project_dir" in settings.model_fields_set:
        project, why = settings.project_dir, "configured project_dir"
    elif (here := find_project(cwd)) is not None:
        project, why = here, "the current directory"
    else:
        project, why = settings.project_dir, "the installed tree (no playbooks/ and roles/ here)"
    project = project.resolve()
    book = settings.book
    if "book" not in settings.model_fields_set and (project / "inventory" / "demo").is_dir():
        book = project / "inventory" / "demo"
    return Target(project, book.resolve(), why)


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise ConfigError(f"{name} is not installed (run: make setup)")
    return found


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", PYTHONWARNINGS="ignore")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def check_book(project: Path, book: Path) -> CheckResult:
    _, issues = validate_book(book)
    findings = tuple(
        Finding("book", f"{i.file}:{i.line or ''}", f"{i.path}: {i.message}") for i in issues
    )
    return CheckResult("book", findings, str(book))


def _yaml_dirs(project: Path) -> list[str]:
    return [d for d in ("playbooks", "roles", "inventory") if (project / d).is_dir()]


def check_yamllint(project: Path, book: Path) -> CheckResult:
    dirs = _yaml_dirs(project)
    proc = _run([_tool("yamllint"), "-f", "parsable", "-s", *dirs], project)
    pattern = re.compile(r"^(?P<loc>[^:]+:\d+:\d+): \[(?P<level>\w+)\] (?P<msg>.*)$")
    findings = tuple(
        Finding("yamllint", m["loc"], f"{m['level']}: {m['msg']}")
        for m in map(pattern.match, proc.stdout.splitlines())
        if m
    )
    if proc.returncode and not findings:
        findings = (Finding("yamllint", ".", proc.stderr.strip() or "yamllint failed"),)
    return CheckResult("yamllint", findings, ", ".join(dirs))


def check_ansible_lint(project: Path, book: Path) -> CheckResult:
    targets = [d for d in ("playbooks", "roles") if (project / d).is_dir()]
    cmd = [
        _tool("ansible-lint"),
        "--profile",
        "production",
        "--offline",
        "-f",
        "codeclimate",
        "--nocolor",
        "-q",
        *targets,
    ]
    proc = _run(cmd, project)
    try:
        issues = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        issues = None
    if not isinstance(issues, list):
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        return CheckResult("ansible-lint", (Finding("ansible-lint", ".", " / ".join(tail)),))
    findings = tuple(_codeclimate(i) for i in issues)
    if proc.returncode and not findings:
        findings = (Finding("ansible-lint", ".", proc.stderr.strip() or "ansible-lint failed"),)
    return CheckResult("ansible-lint", findings, ", ".join(targets))


def _codeclimate(issue: dict[str, Any]) -> Finding:
    loc = issue.get("location", {})
    lines = loc.get("lines", loc.get("positions", {}))
    begin = lines.get("begin", "")
    line = begin.get("line", "") if isinstance(begin, dict) else begin
    return Finding(
        "ansible-lint",
        f"{loc.get('path', '?')}:{line}",
        f"{issue.get('check_name', '')}: {issue.get('description', '')}",
    )


def check_syntax(project: Path, book: Path) -> CheckResult:
    playbooks = sorted((project / "playbooks").glob("*.yml"))
    inventory = project / "inventory" / "pbxops_inventory.py"
    findings: list[Finding] = []
    for pb in playbooks:
        cmd = [_tool("ansible-playbook"), "--syntax-check", str(pb.relative_to(project))]
        if inventory.exists():
            cmd[1:1] = ["-i", str(inventory)]
        proc = _run(cmd, project)
        if proc.returncode:
            msg = _first_error(proc.stderr or proc.stdout)
            findings.append(Finding("syntax-check", str(pb.relative_to(project)), msg))
    return CheckResult("syntax-check", tuple(findings), f"{len(playbooks)} playbooks")


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "ERROR" in ln:
            return ln
    return lines[0] if lines else "syntax check failed"


def check_templates(project: Path, book: Path) -> CheckResult:
    """Every Jinja2 template parses; the line of a syntax error is named."""
    env = jinja2.Environment(autoescape=False)
    files = sorted([*project.glob("templates/**/*.j2"), *project.glob("roles/*/templates/**/*.j2")])
    findings: list[Finding] = []
    for path in files:
        try:
            env.parse(path.read_text())
        except jinja2.TemplateSyntaxError as exc:
            rel = path.relative_to(project)
            findings.append(
                Finding("templates", f"{rel}:{exc.lineno}", exc.message or "syntax error")
            )
    findings.extend(_render_book_templates(project, book))
    return CheckResult("templates", tuple(findings), f"{len(files)} templates")


def _render_book_templates(project: Path, book: Path) -> list[Finding]:
    """Render templates that are rendered from the book (phone profiles, documents)."""
    out: list[Finding] = []
    for renderer in BOOK_RENDERERS:
        out.extend(Finding("templates", loc, msg) for loc, msg in renderer(project, book))
    return out


# Feature packages register functions (project, book) -> [(location, message)] here.
BOOK_RENDERERS: list[Callable[[Path, Path], list[tuple[str, str]]]] = []

CHECKS: dict[str, Callable[[Path, Path], CheckResult]] = {
    "book": check_book,
    "yamllint": check_yamllint,
    "ansible-lint": check_ansible_lint,
    "syntax-check": check_syntax,
    "templates": check_templates,
}


def run_lint(project: Path, book: Path, only: tuple[str, ...] = ()) -> list[CheckResult]:
    names = only or tuple(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ConfigError(
            f"unknown lint check(s): {', '.join(unknown)} (known: {', '.join(CHECKS)})"
        )
    return [CHECKS[n](project, book) for n in names]
