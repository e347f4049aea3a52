"""Reading YAML files of the contract book fast, and finding the line of a YAML path.

Every book file is read through ``read_book_file``, the one place that decides what may be
read: a regular file (not a FIFO, device or directory), at most ``MAX_FILE_BYTES``, and, when
it is a symbolic link, one that stays inside the book directory.

Loading uses libyaml (CSafeLoader) for speed, with two checks of its own: a key given twice
in one mapping is an error (YAML would keep the last), and an impossible date such as
``2027-02-30`` is an error with its line (PyYAML would raise a bare ValueError). Line numbers
are only looked up, by composing the file's node tree, for the few files with findings.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Hashable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from .errors import BookIssue

try:
    _Base: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader

PathPart = str | int

MAX_FILE_BYTES = 1 << 20  # 1 MiB: a customer with 1,000 phones is about 150 KiB
_MERGE = "tag:yaml.org,2002:merge"


class BookFileError(Exception):
    """A book file that must not be read (link out of the book, not a regular file, too big)."""


class _BookLoader(_Base):  # type: ignore[misc]
    """libyaml's safe loader that refuses duplicate keys and impossible dates."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise ConstructorError(
                None, None, f"{node.value!r} is not a valid date or time ({exc})", node.start_mark
            ) from exc


_BookLoader.add_constructor("tag:yaml.org,2002:timestamp", _BookLoader.construct_yaml_timestamp)


def _refuse_duplicates(loader: Any, node: yaml.MappingNode) -> None:
    first: dict[Hashable, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE:
            continue
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            continue  # the constructor itself reports unhashable keys
        if key in first:
            raise ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first given on line {first[key]})",
                key_node.start_mark,
            )
        first[key] = key_node.start_mark.line + 1


def read_book_file(path: str | Path, root: Path) -> bytes:
    """The bytes of one book file, or BookFileError saying why it may not be read.

    ``root`` is the book directory: the file, and the directory it is in, must resolve
    inside it (a symbolic link within the book is fine). The file is opened non-blocking (a
    FIFO never hangs the load) and checked on its descriptor."""
    name = os.fspath(path)
    if not _dir_inside(os.path.dirname(name), os.fspath(root)):
        raise BookFileError("is in a directory that leaves the book directory; refused")
    try:
        try:
            fd = os.open(name, _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            fd = os.open(_link_inside(name, root), _OPEN_FLAGS)
    except OSError as exc:
        raise BookFileError(f"cannot read: {exc.strerror or exc}") from exc
    try:
        return _read_regular(fd)
    finally:
        os.close(fd)


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW
_TOO_BIG = f"is larger than {MAX_FILE_BYTES >> 20} MiB; refused"


def _read_regular(fd: int) -> bytes:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise BookFileError("is not a regular file; refused")
    if st.st_size > MAX_FILE_BYTES:
        raise BookFileError(_TOO_BIG)
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(fd, MAX_FILE_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise BookFileError(_TOO_BIG)
    return b"".join(chunks)


def _link_inside(name: str, root: Path) -> str:
    """Where the symbolic link ``name`` points; BookFileError when that leaves ``root``."""
    real = os.path.realpath(name)
    if not Path(real).is_relative_to(os.path.realpath(root)):
        raise BookFileError("is a symbolic link that leaves the book directory; refused")
    return real


@lru_cache(maxsize=64)
def _dir_inside(directory: str, root: str) -> bool:
    return Path(os.path.realpath(directory)).is_relative_to(os.path.realpath(root))


def parse_yaml(data: bytes, rel: str) -> tuple[Any, BookIssue | None]:
    """Parse one file's bytes; a syntax error becomes a BookIssue with its line."""
    try:
        return yaml.load(data, Loader=_BookLoader), None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return None, BookIssue(rel, "", f"not valid YAML: {exc.problem}", line)
    except (yaml.YAMLError, RecursionError) as exc:
        return None, BookIssue(rel, "", f"not valid YAML: {exc}")


def read_yaml(path: Path, rel: str, root: Path) -> tuple[Any, BookIssue | None]:
    """Read and parse one book file; every problem becomes a BookIssue."""
    try:
        data = read_book_file(path, root)
    except BookFileError as exc:
        return None, BookIssue(rel, "", str(exc))
    return parse_yaml(data, rel)


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


def line_of(path: Path, parts: Sequence[PathPart], root: Path) -> int | None:
    """1-based line where the YAML path starts, or None."""
    try:
        node = yaml.compose(read_book_file(path, root), Loader=yaml.SafeLoader)
    except (BookFileError, yaml.YAMLError, RecursionError):
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
