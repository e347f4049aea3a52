"""The parse cache of large books: reused for unchanged files, never for changed ones."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import bookcache, fleet
from tests.conftest import VALID_CUSTOMER, BookFactory


@pytest.fixture
def cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(bookcache, "CACHE_FROM", 0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _customer(cid: str, name: str) -> dict[str, Any]:
    c = copy.deepcopy(VALID_CUSTOMER)
    c["id"], c["name"] = cid, name
    return c


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    parsed: list[list[Path]] = []
    real = fleet._parse_all

    def spy(paths: list[Path]) -> list[Any]:
        parsed.append(list(paths))
        return real(paths)

    monkeypatch.setattr(fleet, "_parse_all", spy)
    return parsed


def test_unchanged_book_loads_from_the_cache(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_book(_customer("acme", "Acme"))
    first = fleet.load_book(root)
    assert bookcache.cache_file(root).is_file()
    parsed = _no_parsing(monkeypatch)
    second = fleet.load_book(root)
    assert parsed == []
    assert second.customers == first.customers


def test_an_edited_file_is_parsed_again(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_book(_customer("acme", "Acme"))
    fleet.load_book(root)
    path = root / "customers" / "acme.yml"
    path.write_text(yaml.safe_dump(_customer("acme", "Acme Renamed GmbH"), sort_keys=False))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    parsed = _no_parsing(monkeypatch)
    assert fleet.load_book(root).customer("acme").name == "Acme Renamed GmbH"
    assert [p.name for p in parsed[0]] == ["acme.yml"]


def test_a_file_with_findings_is_never_served_from_the_cache(
    cached: Path, make_book: BookFactory
) -> None:
    bad = _customer("acme", "Acme")
    bad["timezone"] = "Mars/Olympus"
    root = make_book(bad)
    for _ in range(2):
        _, issues = fleet.validate_book(root)
        assert any("Mars/Olympus" in i.message for i in issues)


def test_a_damaged_cache_is_ignored(cached: Path, make_book: BookFactory) -> None:
    root = make_book(_customer("acme", "Acme"))
    fleet.load_book(root)
    bookcache.cache_file(root).write_bytes(b"not a pickle")
    assert fleet.load_book(root).customer("acme").name == "Acme"


def test_cache_can_be_turned_off(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PBXOPS_BOOK_CACHE", "0")
    root = make_book(_customer("acme", "Acme"))
    fleet.load_book(root)
    assert not bookcache.cache_file(root).exists()


def test_the_book_is_parsed_by_libyaml() -> None:
    """The speed of a large book rests on PyYAML's C loader (libyaml): the book loader is
    built on it in this environment (duplicate keys and impossible dates are checked on
    top of it, see test_book_hardening)."""
    from orchestrator import bookio

    assert yaml.__with_libyaml__
    assert issubclass(bookio._BookLoader, yaml.CSafeLoader)


def test_the_fingerprint_covers_the_code_a_customer_depends_on() -> None:
    names = {str(p.relative_to(bookcache._PACKAGE)) for p in bookcache.code_files()}
    # the loader, the model and what the model imports (platform profiles validate systems)
    assert {
        "fleet.py",
        "bookio.py",
        "model/customer.py",
        "model/window.py",
        "platforms.py",
    } <= names
    assert "cli/__init__.py" not in names and "executor.py" not in names


def test_changed_code_invalidates_the_cache(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_book(_customer("acme", "Acme"))
    fleet.load_book(root)
    assert bookcache.load(root)
    monkeypatch.setattr(bookcache, "_fingerprint", lambda: "another pbxops")
    assert bookcache.load(root) == {}
    parsed = _no_parsing(monkeypatch)
    assert fleet.load_book(root).customer("acme").name == "Acme"
    assert [p.name for p in parsed[0]] == ["acme.yml"]


def test_loading_leaves_the_garbage_collector_as_it_was(
    cached: Path, make_book: BookFactory
) -> None:
    import gc

    root = make_book(_customer("acme", "Acme"))
    assert gc.isenabled()
    fleet.load_book(root)
    assert gc.isenabled()
    gc.disable()
    try:
        fleet.load_book(root)
        assert not gc.isenabled()
    finally:
        gc.enable()
