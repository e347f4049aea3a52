"""The parse cache of large books: reused for unchanged files, never for changed ones."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from orchestrator import bookcache, checks, fleet
from tests.conftest import DEMO_BOOK, VALID_CUSTOMER, BookFactory


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


# --- the cross checks' clean verdict ------------------------------------------------------

_TARIFFS = "software_per_licence: {user: 5}\nsla_rates: [{reaction_hours: 8, per_extension: 1}]\n"


def _other(cid: str, n: int) -> dict[str, Any]:
    """A customer of its own: its own subnet, host, contracts and phone MACs."""
    c = _customer(cid, cid.upper())
    c["sites"][0]["subnet"] = f"10.60.{n}.0/24"
    system = c["systems"][0]
    system["hostname"], system["address"] = f"{cid}-pbx", f"10.60.{n}.10"
    for i, phone in enumerate(system["phones"]):
        phone["mac"] = f"02:00:00:00:{n:02x}:{i:02x}"
    for k in c["contracts"]:
        k["id"] = k["id"].replace("acme", cid)
    return c


def _count_cross_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    runs: list[int] = []
    real = checks.cross_checks

    def spy(f: fleet.Fleet) -> Any:
        runs.append(1)
        return real(f)

    monkeypatch.setattr(checks, "cross_checks", spy)
    return runs


def _clean_book(make_book: BookFactory) -> Path:
    root = make_book(_other("a1", 1), _other("a2", 2), extra={"tariffs.yml": _TARIFFS})
    assert fleet.validate_book(root)[1] == []  # runs the checks, records the verdict
    return root


def test_an_unchanged_clean_book_skips_the_cross_checks(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _clean_book(make_book)
    runs = _count_cross_checks(monkeypatch)
    for _ in range(2):
        assert fleet.validate_book(root)[1] == []
    assert runs == []
    verdict = bookcache.verdict_file(root)
    assert oct(verdict.stat().st_mode & 0o777) == "0o600"
    assert oct(verdict.parent.stat().st_mode & 0o777) == "0o700"


def test_a_changed_customer_file_runs_the_cross_checks_and_reports_the_finding(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _clean_book(make_book)
    runs = _count_cross_checks(monkeypatch)
    path = root / "customers" / "a2.yml"
    path.write_text(path.read_text().replace("a2-pbx", "a1-pbx"))  # valid on its own
    issues = fleet.validate_book(root)[1]
    assert runs == [1]
    assert [(i.file, i.path) for i in issues] == [("customers/a2.yml", "systems[0].hostname")]
    assert "duplicate hostname 'a1-pbx'" in issues[0].message
    assert fleet.validate_book(root)[1] == issues  # a book with findings records no verdict
    assert runs == [1, 1]


def test_a_changed_tariffs_file_runs_the_cross_checks_and_reports_the_finding(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _clean_book(make_book)
    (root / "tariffs.yml").write_text(_TARIFFS.replace("user", "seat"))
    messages = [i.message for i in fleet.validate_book(root)[1]]
    assert len(messages) == 2 and all("licence kind 'user'" in m for m in messages), messages


def test_an_added_customer_file_runs_the_cross_checks(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _clean_book(make_book)
    runs = _count_cross_checks(monkeypatch)
    clash = _other("a3", 3)
    clash["systems"][0]["phones"][0]["mac"] = "02:00:00:00:01:00"  # a1's first phone
    make_book(clash)
    issues = fleet.validate_book(root)[1]
    assert runs == [1]
    assert [i.file for i in issues] == ["customers/a3.yml"], issues
    assert "duplicate phone MAC '020000000100'" in issues[0].message


def test_changed_checker_code_runs_the_cross_checks(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = {str(p.relative_to(bookcache._PACKAGE)) for p in bookcache.code_files()}
    assert {"checks.py", "contract_checks.py", "model/contract.py"} <= names
    root = _clean_book(make_book)
    runs = _count_cross_checks(monkeypatch)
    monkeypatch.setattr(bookcache, "_fingerprint", lambda: "another checks.py")
    assert fleet.validate_book(root)[1] == []
    assert runs == [1]


def test_changed_cached_json_runs_the_cross_checks(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdict is bound to the JSON the customers were built from, not only to the
    files: a damaged or rewritten cache entry is checked again."""
    root = _clean_book(make_book)
    entries = bookcache.load(root)
    key, text = entries["a2.yml"]
    entries["a2.yml"] = (key, text.replace("a2-pbx", "a1-pbx"))
    bookcache.save(root, entries)
    runs = _count_cross_checks(monkeypatch)
    issues = fleet.validate_book(root)[1]
    assert runs == [1]
    assert any("duplicate hostname 'a1-pbx'" in i.message for i in issues), issues


def test_a_damaged_verdict_runs_the_cross_checks(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _clean_book(make_book)
    bookcache.verdict_file(root).write_text('{"clean": "0000"}\n')
    runs = _count_cross_checks(monkeypatch)
    assert fleet.validate_book(root)[1] == []
    bookcache.verdict_file(root).write_bytes(b"\x80 not json")
    assert fleet.validate_book(root)[1] == []
    assert runs == [1, 1]


def test_no_verdict_without_the_parse_cache(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PBXOPS_BOOK_CACHE", "0")
    root = make_book(_other("a1", 1))
    runs = _count_cross_checks(monkeypatch)
    for _ in range(2):
        assert fleet.validate_book(root)[1] == []
    assert runs == [1, 1]
    assert not bookcache.verdict_file(root).exists()


def _fields_set(value: Any) -> Any:
    """Which fields each model in a tree was given (what exclude_unset keeps)."""
    if isinstance(value, BaseModel):
        return {
            "set": sorted(value.model_fields_set),
            **{k: _fields_set(getattr(value, k)) for k in type(value).model_fields},
        }
    if isinstance(value, tuple | list):
        return [_fields_set(v) for v in value]
    return None


def test_a_cached_customer_is_the_customer_its_file_makes(
    cached: Path, make_book: BookFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache keeps the fields each file set (the rest are defaults): a customer served
    from it equals the freshly parsed one, down to which fields were given."""
    root = tmp_path / "demo"
    shutil.copytree(DEMO_BOOK, root)
    monkeypatch.setenv("PBXOPS_BOOK_CACHE", "0")
    fresh = fleet.load_book(root).customers
    monkeypatch.setenv("PBXOPS_BOOK_CACHE", "1")
    fleet.load_book(root)  # fills the cache
    parsed = _no_parsing(monkeypatch)
    served = fleet.load_book(root).customers
    assert parsed == [] and len(served) == len(fresh) > 1
    assert served == fresh
    assert [c.model_dump() for c in served] == [c.model_dump() for c in fresh]
    assert [_fields_set(c) for c in served] == [_fields_set(c) for c in fresh]
