"""Reading YAML files of the contract book fast, and finding the line of a YAML path.

Loading uses libyaml (CSafeLoader) for speed; line numbers are only looked up, by composing
the file's node tree, for the few files that have findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import BookIssue

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

PathPart = str | int


def read_yaml(path: Path, rel: str) -> tuple[Any, BookIssue | None]:
    """Parse one file; a syntax error becomes a BookIssue with its line."""
    try:
        with path.open("rb") as fh:
            return yaml.load(fh, Loader=_Loader), None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return None, BookIssue(rel, "", f"not valid YAML: {exc.problem}", line)
    except (OSError, yaml.YAMLError) as exc:
        return None, BookIssue(rel, "", f"cannot read: {exc}")


def data_path(data: Any, loc: Sequence[PathPart]) -> tuple[PathPart, ...]:
    """Reduce a pydantic error location to the keys/indexes that exist in ``data``
    (drops union tags such as the contract kind)."""
    out: list[PathPart] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            continue
        out.append(part)
    return tuple(out)


def format_path(parts: Sequence[PathPart]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def line_of(path: Path, parts: Sequence[PathPart]) -> int | None:
    """1-based line where the YAML path starts, or None."""
    try:
        node = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in parts:
        node = _child(node, part)
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _child(node: Any, part: PathPart) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None
