"""Rendering helpers shared by the command modules: JSON or a rich table.

A table wider than the terminal is not squeezed (rich would wrap every column, one word a
line, at 80 columns): the short columns that fit stay a table, the long ones (reasons,
errors, windows) are folded under each row as ``name: value`` lines indented by two.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import click
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")

GAP = 2  # spaces between the columns of a folded table
MIN_TEXT = 30  # a long column folded inside a table keeps at least this many characters
INDENT = "  "  # folded values under their row


def _columns(default: int) -> int:
    try:
        return max(40, int(os.environ.get("COLUMNS", "") or default))
    except ValueError:
        return default


def console(err: bool = False) -> Console:
    stream = sys.stderr if err else sys.stdout
    # pipes and logs: COLUMNS when set, else wide (don't fold at 80 columns)
    width = None if stream.isatty() else _columns(200)
    return Console(stderr=err, highlight=False, width=width)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, out: Console | None = None
) -> None:
    """A table on ``out`` (the terminal by default); folded when it is too wide for it."""
    con = out or console()
    cells = [["" if v is None else " ".join(str(v).splitlines()) for v in row] for row in rows]
    widths = _widths(columns, cells)
    long = [w > _long(con.width) for w in widths]
    # short columns never wrap; long ones fold inside the table while each keeps MIN_TEXT
    boxed = sum(w for w, is_long in zip(widths, long, strict=True) if not is_long) + sum(
        min(w, MIN_TEXT) for w, is_long in zip(widths, long, strict=True) if is_long
    ) + 3 * len(columns) + 1
    if boxed > con.width:
        for line in folded_lines(title, columns, cells, con.width):
            con.print(line, soft_wrap=True)
        return
    table = Table(title=title, title_justify="left", show_lines=False)
    for col, w, is_long in zip(columns, widths, long, strict=True):
        table.add_column(col, overflow="fold", no_wrap=not is_long,
                         min_width=None if is_long else w)
    for row in cells:
        table.add_row(*(Text(v) for v in row))  # book text is text, never rich markup
    con.print(table)


def _widths(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([cell_len(c), *(cell_len(r[i]) for r in rows)]) for i, c in enumerate(columns)]


def _long(width: int) -> int:
    """Columns wider than this are text to fold (reasons, errors), not values to align."""
    return max(20, width // 3)


def _kept(columns: Sequence[str], widths: Sequence[int], width: int) -> list[int]:
    """Indexes of the columns that stay a table: the first always, then, in order, each
    short one (at most a third of the width) that still fits the line."""
    kept, used = [0], widths[0]
    for i in range(1, len(columns)):
        if widths[i] <= _long(width) and used + GAP + widths[i] <= width:
            kept.append(i)
            used += GAP + widths[i]
    return kept


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    padded = [v + " " * (w - cell_len(v)) for v, w in zip(values, widths, strict=True)]
    return (" " * GAP).join(padded).rstrip()


def folded_lines(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], width: int
) -> list[Text]:
    """The table for a terminal ``width`` columns wide: no line is longer, no value of a
    kept column is wrapped, every folded value is there in full."""
    widths = _widths(columns, rows)
    kept = _kept(columns, widths, width)
    kept_widths = [widths[i] for i in kept]
    lines = [Text(t) for t in textwrap.wrap(title, width)]
    lines.append(Text(_line([columns[i] for i in kept], kept_widths), style="bold"))
    for row in rows:
        lines.append(Text(_line([row[i] for i in kept], kept_widths)))
        folded = [f"{columns[i]}: {row[i]}" for i in range(len(columns))
                  if i not in kept and row[i]]
        wrapped = textwrap.wrap("; ".join(folded), width, initial_indent=INDENT,
                                subsequent_indent=INDENT * 2, break_on_hyphens=False)
        lines.extend(Text(t, style="dim") for t in wrapped)
    return lines
