"""A cache of parsed and validated customer files for large books.

Parsing YAML dominates loading a 10,000-customer book (about 5 s on two cores); an ops
engineer runs several commands against an unchanged book. Each customer file's result is
kept keyed by the file's content (size and SHA-256 of the bytes that were parsed) and a
fingerprint of the model code, so an edited file — even one whose mtime and size were
kept, as ``cp -p`` or ``rsync -t`` do —, a new pbxops version or a changed model is parsed
again. The cache lives in the user's cache directory (``$XDG_CACHE_HOME/pbxops``, 0700,
files 0600), never in the book, and holds only what the book files already hold.

The format is JSON: loading it cannot run code, and every cached customer is validated by
the model again (from JSON, in pydantic's core), so a tampered cache can at worst hold a
customer the book could hold too. ``PBXOPS_BOOK_CACHE=0`` turns it off; a damaged cache is
ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pydantic

CACHE_FROM = 400  # books with fewer customer files load fast enough without it
_VERSION = 2  # 1 was pickle

ContentKey = str  # "<size>:<sha256>" of the file's bytes


def enabled(nfiles: int) -> bool:
    return nfiles >= CACHE_FROM and os.environ.get("PBXOPS_BOOK_CACHE", "1") != "0"


def content_key(data: bytes) -> ContentKey:
    """The key of one file's bytes: what was parsed is what the entry is filed under."""
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()}"


@cache
def _fingerprint() -> str:
    """Changes whenever the code that turns a file into a customer changes."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"{_VERSION}:{pydantic.VERSION}:{platform.python_version()}".encode())
    for src in sorted([*(here / "model").glob("*.py"), here / "fleet.py", here / "bookio.py"]):
        digest.update(src.read_bytes())
    return digest.hexdigest()


def cache_file(root: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pbxops"
    name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return base / f"book-{name}.json"


def load(root: Path) -> dict[str, tuple[ContentKey, str]]:
    """Cached entries by file name: (content key, the customer as JSON text); empty when
    there is no usable cache."""
    try:
        with cache_file(root).open("rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):  # missing or damaged: simply rebuilt
        return {}
    if not isinstance(data, dict) or data.get("fingerprint") != _fingerprint():
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {
        name: (entry[0], entry[1])
        for name, entry in entries.items()
        if isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], str)
    }


def save(root: Path, entries: dict[str, tuple[ContentKey, str]]) -> None:
    """Write atomically, readable by the user only; failing to write a cache never fails
    a command."""
    target = cache_file(root)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(target.parent, 0o700)
        fd, tmp = tempfile.mkstemp(prefix=".book-", dir=target.parent)  # 0600
    except OSError:
        return
    payload: dict[str, Any] = {
        "fingerprint": _fingerprint(),
        "entries": {name: list(entry) for name, entry in entries.items()},
    }
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, separators=(",", ":"))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        if not isinstance(sys.exc_info()[1], OSError):
            raise
