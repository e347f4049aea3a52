"""``pbxops lint``: the CI check of playbooks, roles, templates and the book."""

from __future__ import annotations

from pathlib import Path

import click

from .. import lint as lint_mod
from . import settings_of
from .output import console, json_option, print_json


@click.command("lint")
@click.option(
    "--project",
    type=click.Path(file_okay=False, exists=True),
    help="Project directory with playbooks/ and roles/ (default: the one the current "
    "directory is in, else the tree pbxops was installed from; the tree is printed).",
)
@click.option(
    "--check",
    "only",
    multiple=True,
    type=click.Choice(list(lint_mod.CHECKS)),
    help="Run only this check (repeatable).",
)
@json_option
@click.pass_context
def group(ctx: click.Context, project: str | None, only: tuple[str, ...], as_json: bool) -> None:
    """Run yamllint, ansible-lint (production profile), syntax checks of every playbook,
    template rendering and book validation; one summary, exit 1 on any finding."""
    target = lint_mod.lint_target(settings_of(ctx), Path(project) if project else None,
                                  Path.cwd())
    out = console()
    if not as_json:
        click.echo(f"linting {target.project} ({target.why}), book {target.book}")
    with out.status("linting...") if not as_json else _null():
        results = lint_mod.run_lint(target.project, target.book, only)
    total = sum(len(r.findings) for r in results)
    if as_json:
        print_json(
            {
                "ok": total == 0,
                "project": str(target.project),
                "project_from": target.why,
                "book": str(target.book),
                "checks": [
                    {
                        "check": r.check,
                        "ok": r.ok,
                        "detail": r.detail,
                        "findings": [f.__dict__ for f in r.findings],
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            for f in r.findings:
                click.echo(f"{f.location}: [{f.check}] {f.message}")
        for r in results:
            mark = "ok  " if r.ok else "FAIL"
            click.echo(f"{mark} {r.check:<13} {r.detail}  ({len(r.findings)} findings)")
        click.echo(f"lint: {total} finding{'s' if total != 1 else ''}")
    if total:
        ctx.exit(1)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
