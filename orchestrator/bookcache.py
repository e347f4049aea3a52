"""A cache of parsed and validated customer files for large books.

Parsing YAML dominates loading a 10,000-customer book (about 3 s of CPU); an ops engineer
runs several commands against an unchanged book. Each customer file's result is kept keyed
by the file's content (size and SHA-256 of the bytes that were parsed) and a fingerprint of
the code that turns a file into a customer, so an edited file — even one whose mtime and
size were kept, as ``cp -p`` or ``rsync -t`` do —, another pbxops, pydantic, PyYAML or
Python, or any change to a source file the loader depends on (found from its imports, see
``code_files``) is parsed again. The cache lives in the user's cache directory
(``$XDG_CACHE_HOME/pbxops``, 0700, files 0600), never in the book, and holds only what the
book files already hold.

The format is text, one entry per line: a JSON header line with the fingerprint, then
``"<file name>"<TAB><content key><TAB><the customer as JSON>``, with the fields its
file set (the others are defaults: a customer served from the cache is the one its file
makes, down to ``model_fields_set``). Loading it cannot run code
(no pickle), and every cached customer is validated by the model again (from its JSON, in
pydantic's core), so a tampered cache can at worst hold a customer the book could hold too.
``PBXOPS_BOOK_CACHE=0`` turns it off; a damaged cache is ignored and rewritten.

Beside it, a *verdict* file records that the cross checks (``checks``) of one exact book
found nothing: its key is a digest of the fingerprint (which covers the checker modules),
every customer file's name, content key and the JSON its customer was built from, and the
content of the book's other files (``releases.yml``, ``tariffs.yml`` ...). A warm load of an
unchanged book whose files have no findings of their own skips the cross checks when the
key matches; any changed file, file added or removed, changed cached JSON or changed
loader/checker code changes the key and the checks run again. Only a clean verdict is
written. The file is as trustworthy as the cache beside it (the user's own, 0600): it
guards against stale and damaged state, not against someone who can write the user's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import tempfile
from functools import cache
from pathlib import Path

import pydantic
import pydantic_core
import yaml

CACHE_FROM = 400  # books with fewer customer files load fast enough without it
_VERSION = 4  # 1 was pickle, 2 one JSON document, 3 every field (4: the fields the file set)

ContentKey = str  # "<size>:<sha256>" of the file's bytes
Entries = dict[str, tuple[ContentKey, str]]  # file name -> (content key, customer JSON)

_PACKAGE = Path(__file__).resolve().parent
# What the fingerprint starts from: the loader, the cross checks whose clean verdict is
# kept, and the model (and what they import).
_ROOTS = (
    "fleet.py",
    "bookio.py",
    "bookcache.py",
    "checks.py",
    "contract_checks.py",
    "model/__init__.py",
)
_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+(\.+)([\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w \t,]+))", re.MULTILINE
)


def enabled(nfiles: int) -> bool:
    return nfiles >= CACHE_FROM and os.environ.get("PBXOPS_BOOK_CACHE", "1") != "0"


def content_key(data: bytes) -> ContentKey:
    """The key of one file's bytes: what was parsed is what the entry is filed under."""
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()}"


def code_files() -> list[Path]:
    """The package's source files a customer's validation depends on: the loader and the
    model and, transitively, every module of the package they import (relative imports;
    a package means all of its modules)."""
    seen: set[Path] = set()
    todo = [_PACKAGE / r for r in _ROOTS]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        if path.name == "__init__.py":
            todo.extend(path.parent.glob("*.py"))
        for dots, module, grouped, names in _IMPORT.findall(path.read_text()):
            base = path.parent
            for _ in range(len(dots) - 1):
                base = base.parent
            target = base.joinpath(*module.split(".")) if module else base
            candidates = [target.with_suffix(".py"), target / "__init__.py"] if module else []
            if not module:  # from . import a, b: the names are modules
                for name in re.findall(r"\w+", grouped or names):
                    candidates += [target / f"{name}.py", target / name / "__init__.py"]
            todo.extend(c for c in candidates if c.is_file())
    return sorted(seen)


@cache
def _fingerprint() -> str:
    """Changes whenever the code that turns a file into a customer changes."""
    versions = (
        _VERSION,
        pydantic.VERSION,
        pydantic_core.__version__,
        yaml.__version__,
        yaml.__with_libyaml__,
        platform.python_implementation(),
        sys.version,
    )
    digest = hashlib.sha256(repr(versions).encode())
    for src in code_files():
        digest.update(f"\0{src.relative_to(_PACKAGE)}\0".encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()


def cache_file(root: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pbxops"
    name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return base / f"book-{name}.cache"


def verdict_file(root: Path) -> Path:
    return cache_file(root).with_suffix(".verdict")


def verdict_key(entries: Entries, others: dict[str, ContentKey | None]) -> str:
    """The key of one exact book for the cross checks' verdict: the code fingerprint, each
    customer file (name, content key, the JSON its customer was built from) and the content
    key of each other book file (None: absent)."""
    digest = hashlib.sha256(f"verdict\0{_fingerprint()}\0".encode())
    for name in sorted(entries):
        key, text = entries[name]
        digest.update(f"{json.dumps(name)}\0{key}\0{len(text)}\0".encode())
        digest.update(text.encode())
    digest.update(json.dumps(sorted(others.items())).encode())
    return digest.hexdigest()


def verdict_holds(root: Path, key: str) -> bool:
    """Whether the cross checks of the book with this key found nothing before."""
    try:
        with verdict_file(root).open("rb") as fh:
            data = json.loads(fh.read(4096))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("clean") == key


def save_verdict(root: Path, key: str) -> None:
    """Record that the cross checks of the book with this key found nothing."""
    _write_private(verdict_file(root), json.dumps({"clean": key}) + "\n")


def load(root: Path) -> Entries:
    """Cached entries by file name: (content key, the customer as JSON text); empty when
    there is no usable cache. A line that is not an entry is skipped (parsed again)."""
    try:
        with cache_file(root).open("rb") as fh:
            data = fh.read()
    except OSError:  # missing: simply built
        return {}
    head, _, body = data.partition(b"\n")
    try:
        header = json.loads(head)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(header, dict) or header.get("fingerprint") != _fingerprint():
        return {}
    entries: Entries = {}
    for line in body.split(b"\n"):
        parts = line.split(b"\t", 2)
        if len(parts) != 3:
            continue
        try:
            name = _name(parts[0])
            key, text = parts[1].decode("ascii"), parts[2].decode("utf-8")
        except (ValueError, RecursionError):
            continue
        if isinstance(name, str):
            entries[name] = (key, text)
    return entries


def _name(raw: bytes) -> object:
    """A file name as ``save`` wrote it (JSON). Most are printable ASCII in quotes with
    nothing escaped: those are taken as they are, without the JSON parser."""
    if _PLAIN_NAME.fullmatch(raw):
        return raw[1:-1].decode("ascii")
    return json.loads(raw)


_PLAIN_NAME = re.compile(rb'"[ !#-\[\]-~]*"')  # printable ASCII but " and \


def save(root: Path, entries: Entries) -> None:
    """Write atomically, readable by the user only; failing to write a cache never fails
    a command."""
    lines = [json.dumps({"fingerprint": _fingerprint(), "format": _VERSION})]
    lines += [
        f"{json.dumps(name)}\t{key}\t{text}"
        for name, (key, text) in entries.items()
        if "\n" not in text and "\t" not in key  # JSON text never holds a raw newline
    ]
    _write_private(cache_file(root), "\n".join(lines) + "\n")


def _write_private(target: Path, text: str) -> None:
    """Replace ``target`` atomically with ``text``: file 0600 in a 0700 directory. An
    OSError leaves the old file (or none) and is not raised."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(target.parent, 0o700)
        fd, tmp = tempfile.mkstemp(prefix=".book-", dir=target.parent)  # 0600
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        if not isinstance(sys.exc_info()[1], OSError):
            raise
