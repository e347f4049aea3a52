"""Hostile or careless book input (issue 15): every one is a finding with file and line,
never a traceback, a hang or a value that reaches a host unchecked."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import bookcache, bookio, fleet
from orchestrator.errors import BookError, ConfigError
from orchestrator.model.catalog import Catalog
from orchestrator.planner import PlanOptions, WavePlan
from tests.conftest import DEMO_BOOK, VALID_CUSTOMER, BookFactory


def _customer(cid: str = "acme", name: str = "ACME GmbH") -> dict[str, Any]:
    c = copy.deepcopy(VALID_CUSTOMER)
    c["id"], c["name"] = cid, name
    return c


def _text(c: dict[str, Any]) -> str:
    return yaml.safe_dump(c, sort_keys=False)


def _issues(root: Path) -> list[str]:
    _, issues = fleet.validate_book(root)
    return [str(i) for i in issues]


# --- releases.yml: package names and versions by Debian's rules -------------------------

RELEASE = """releases:
  - id: pbx-1
    kind: pbx
    platform: asterisk
    version: {version}
    packages: {{{package}: {pinned}}}
"""


@pytest.mark.parametrize(
    ("package", "version", "pinned", "line", "complaint"),
    [
        ('"labpbx; touch /tmp/pwned #"', "18.1.0", "18.1.0", 6, "not a Debian package name"),
        ('"$(id)"', "18.1.0", "18.1.0", 6, "not a Debian package name"),
        ("LabPBX", "18.1.0", "18.1.0", 6, "not a Debian package name"),
        ("x", "18.1.0", "18.1.0", 6, "not a Debian package name"),
        ("-labpbx", "18.1.0", "18.1.0", 6, "not a Debian package name"),
        ("labpbx", "18.1.0", '"18.1.0; reboot"', 6, "not a Debian version"),
        ("labpbx", "18.1.0", '"18.1.0 -o APT::Foo=1"', 6, "not a Debian version"),
        ("labpbx", "18.1.0", "v18", 6, "not a Debian version"),
        ("labpbx", "18.1.0", '"1.0-"', 6, "not a Debian version"),
        ("labpbx", '"18.1.0`id`"', "18.1.0", 5, "not a Debian version"),
    ],
    ids=[
        "shell_in_package_name",
        "command_substitution_name",
        "upper_case_name",
        "one_letter_name",
        "name_starting_with_dash",
        "shell_in_pinned_version",
        "option_in_pinned_version",
        "version_not_starting_with_digit",
        "empty_revision",
        "backticks_in_release_version",
    ],
)
def test_release_with_unsafe_package_or_version_is_a_book_error(
    make_book: BookFactory, package: str, version: str, pinned: str, line: int, complaint: str
) -> None:
    text = RELEASE.format(package=package, version=version, pinned=pinned)
    root = make_book(_customer(), extra={"releases.yml": text})
    issues = _issues(root)
    assert len(issues) == 1, issues
    assert issues[0].startswith(f"releases.yml:{line}: releases[0]"), issues
    assert complaint in issues[0]
    with pytest.raises(BookError) as err:
        fleet.load_book(root)
    assert err.value.exit_code == 3


@pytest.mark.parametrize(
    "version", ["18.1.0", "1:2.30-1+deb12u1", "20.0.7.1057", "2.4~rc1", "1.0-1~bpo12+1", "12.8"]
)
def test_debian_versions_are_accepted(version: str) -> None:
    catalog = Catalog.model_validate(
        {
            "releases": [
                {
                    "id": "r",
                    "kind": "pbx",
                    "platform": "asterisk",
                    "version": version,
                    "packages": {"lab-pbx+x.2": version},
                }
            ]
        }
    )
    assert catalog.releases[0].packages == {"lab-pbx+x.2": version}


def test_os_upgrade_fields_reaching_hosts_are_checked(make_book: BookFactory) -> None:
    text = (
        "releases:\n"
        "  - {id: os, kind: os, from_os: '12', to_os: 'trixie', suite: 'x y',"
        " version_file: 'etc/passwd'}\n"
    )
    issues = _issues(make_book(_customer(), extra={"releases.yml": text}))
    assert len(issues) == 3, issues
    assert all(i.startswith("releases.yml:2: releases[0].") for i in issues), issues


def test_demo_catalogue_is_valid() -> None:
    assert fleet.load_book(DEMO_BOOK).catalog.release("pbx-18.1") is not None


# --- book files: links, special files, size --------------------------------------------


def test_symlink_leaving_the_book_is_refused_without_reading_it(
    make_book: BookFactory, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.yml"
    secret.write_text("id: acme\nroot-password: hunter2\n")
    root = make_book(_customer("other"))
    (root / "customers" / "acme.yml").symlink_to(secret)
    issues = _issues(root)
    assert issues == [
        "customers/acme.yml: is a symbolic link that leaves the book directory; refused"
    ]
    assert "hunter2" not in json.dumps(issues)


def test_symlink_inside_the_book_is_followed(make_book: BookFactory) -> None:
    root = make_book(extra={"shared.yml.src": _text(_customer())})
    (root / "customers" / "acme.yml").symlink_to(root / "shared.yml.src")
    assert _issues(root) == []


def test_symlinked_releases_file_leaving_the_book_is_refused(
    make_book: BookFactory, tmp_path: Path
) -> None:
    outside = tmp_path / "releases.yml"
    outside.write_text("releases: []\n")
    root = make_book(_customer())
    (root / "releases.yml").symlink_to(outside)
    assert _issues(root) == [
        "releases.yml: is a symbolic link that leaves the book directory; refused"
    ]


def test_fifo_in_customers_does_not_hang_the_load(make_book: BookFactory) -> None:
    root = make_book(_customer())
    os.mkfifo(root / "customers" / "pipe.yml")
    assert _issues(root) == ["customers/pipe.yml: is not a regular file; refused"]


def test_directory_named_like_a_customer_file_is_refused(make_book: BookFactory) -> None:
    root = make_book(_customer())
    (root / "customers" / "dir.yml").mkdir()
    assert _issues(root) == ["customers/dir.yml: is not a regular file; refused"]


def test_oversized_file_is_refused(make_book: BookFactory) -> None:
    big = _text(_customer("big")) + "# " + "x" * bookio.MAX_FILE_BYTES + "\n"
    root = make_book(_customer(), ("big", big))
    assert _issues(root) == ["customers/big.yml: is larger than 1 MiB; refused"]


# --- YAML: duplicate keys, impossible dates ---------------------------------------------


def test_duplicate_key_is_a_finding_with_its_line(make_book: BookFactory) -> None:
    text = _text(_customer()) + "name: Evil Twin\n"
    lines = text.splitlines()
    root = make_book(("acme", text))
    issues = _issues(root)
    assert len(issues) == 1, issues
    assert issues[0].startswith(f"customers/acme.yml:{len(lines)}: not valid YAML: ")
    assert "duplicate key 'name' (first given on line 2)" in issues[0]


def test_duplicate_key_in_a_nested_mapping_is_a_finding(make_book: BookFactory) -> None:
    text = "releases:\n  - id: a\n    kind: pbx\n    id: b\n"
    issues = _issues(make_book(_customer(), extra={"releases.yml": text}))
    assert issues == [
        "releases.yml:4: not valid YAML: duplicate key 'id' (first given on line 2)"
    ]


def test_merge_keys_may_be_overridden() -> None:
    data = yaml.load(
        "base: &b {a: 1, b: 2}\nchild:\n  <<: *b\n  a: 3\n", Loader=bookio._BookLoader
    )
    assert data["child"] == {"a": 3, "b": 2}


@pytest.mark.parametrize("day", ["2027-02-30", "2026-13-01", "2026-04-31"])
def test_impossible_unquoted_date_is_a_finding_with_its_line(
    make_book: BookFactory, day: str
) -> None:
    text = _text(_customer()).replace("'2026-12-31'", day, 1)
    assert day in text
    line = next(i for i, t in enumerate(text.splitlines(), 1) if day in t)
    issues = _issues(make_book(("acme", text)))
    assert len(issues) == 1, issues
    assert issues[0].startswith(f"customers/acme.yml:{line}: not valid YAML: '{day}'")


def test_impossible_date_through_the_worker_pool(
    make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet, "PARALLEL_FROM", 2)
    monkeypatch.setattr(fleet.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("PBXOPS_BOOK_CACHE", "0")
    bad = _text(_customer("bad")).replace("'2026-12-31'", "2027-02-30", 1)
    root = make_book(_customer(), ("bad", bad))
    issues = _issues(root)
    assert len(issues) == 1 and issues[0].startswith("customers/bad.yml:"), issues
    assert "2027-02-30" in issues[0]


# --- the parse cache: JSON, keyed by content --------------------------------------------


@pytest.fixture
def cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(bookcache, "CACHE_FROM", 0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_parse_cache_is_json_text_and_private(cached: Path, make_book: BookFactory) -> None:
    root = make_book(_customer())
    fleet.load_book(root)
    path = bookcache.cache_file(root)
    head, *entries = path.read_text().splitlines()
    assert set(json.loads(head)) == {"fingerprint", "format"}
    [(name, key, text)] = [line.split("\t") for line in entries]
    assert (json.loads(name), json.loads(text)["id"]) == ("acme.yml", "acme")
    assert key == bookcache.content_key((root / "customers" / "acme.yml").read_bytes())
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


class _Boom:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_in_the_cache_is_never_loaded(
    cached: Path, make_book: BookFactory, tmp_path: Path
) -> None:
    import pickle

    root = make_book(_customer())
    fleet.load_book(root)
    marker = tmp_path / "code-ran"
    payload = pickle.dumps({"fingerprint": "x", "entries": _Boom(marker)})
    bookcache.cache_file(root).write_bytes(payload)
    for stale in bookcache.cache_file(root).parent.iterdir():
        stale.write_bytes(payload)  # whatever name the cache file has
    assert fleet.load_book(root).customer("acme").name == "ACME GmbH"
    assert not marker.exists()


def test_content_changed_with_same_mtime_and_size_is_parsed_again(
    cached: Path, make_book: BookFactory
) -> None:
    root = make_book(_customer(name="Acme One"))
    fleet.load_book(root)
    path = root / "customers" / "acme.yml"
    st = path.stat()
    path.write_text(path.read_text().replace("Acme One", "Acme Two"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert fleet.load_book(root).customer("acme").name == "Acme Two"


def test_cached_customer_is_validated_again(cached: Path, make_book: BookFactory) -> None:
    root = make_book(_customer())
    fleet.load_book(root)
    entries = bookcache.load(root)
    key, text = entries["acme.yml"]
    forged = json.loads(text)
    forged["timezone"] = "Mars/Olympus"
    bookcache.save(root, {"acme.yml": (key, json.dumps(forged))})
    assert bookcache.load(root)["acme.yml"][1] == json.dumps(forged)
    assert fleet.load_book(root).customer("acme").timezone == "Europe/Berlin"


def test_warm_cache_serves_every_file(
    cached: Path, make_book: BookFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_book(_customer("a1"), _customer("a2"))
    (root / "customers" / "a2.yml").write_text(
        (root / "customers" / "a2.yml")
        .read_text()
        .replace("10.60.1.", "10.60.2.")
        .replace("acme-pbx", "a2-pbx")
        .replace("acme-", "a2-")
        .replace(":00:0", ":00:1")
    )
    first = fleet.load_book(root)
    parsed: list[list[Path]] = []
    real = fleet._parse_all
    monkeypatch.setattr(fleet, "_parse_all", lambda p: parsed.append(p) or real(p))
    assert fleet.load_book(root).customers == first.customers
    assert parsed == []


def test_symlink_out_of_the_book_is_refused_even_when_cached(
    cached: Path, make_book: BookFactory, tmp_path: Path
) -> None:
    root = make_book(_customer())
    fleet.load_book(root)
    path = root / "customers" / "acme.yml"
    outside = tmp_path / "moved.yml"
    shutil.move(path, outside)
    path.symlink_to(outside)
    assert _issues(root) == [
        "customers/acme.yml: is a symbolic link that leaves the book directory; refused"
    ]


# --- wave plan options -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"batch_size": 0}, "--batch-size"),
        ({"batch_size": -3}, "--batch-size"),
        ({"canary_size": -1}, "--canary"),
        ({"horizon_days": -5}, "--horizon"),
        ({"horizon_days": 0}, "--horizon"),
        ({"horizon_days": 10**9}, "--horizon"),
        ({"batch_percent": math.nan}, "--batch-percent"),
        ({"batch_percent": math.inf}, "--batch-percent"),
        ({"batch_percent": 0.0}, "--batch-percent"),
        ({"batch_percent": 250.0}, "--batch-percent"),
        ({"batch_size": 10**12}, "--batch-size"),
    ],
    ids=lambda v: str(v),
)
def test_bad_plan_option_is_a_config_error_naming_the_option(
    options: dict[str, Any], option: str
) -> None:
    with pytest.raises(ConfigError) as err:
        PlanOptions(**options)
    assert str(err.value).startswith(f"{option} must be ")
    assert err.value.exit_code == 2


def test_good_plan_options_are_accepted() -> None:
    opts = PlanOptions(canary_size=0, batch_size=1, batch_percent=100.0, horizon_days=366)
    assert opts.batch_percent == 100.0


def test_saved_wave_with_options_refused_today_still_loads() -> None:
    saved = {
        "release": "pbx-18.1",
        "kind": "pbx",
        "target": "18.1.0",
        "planned_at": "2026-11-25T12:00:00+00:00",
        "options": {
            "canary_size": 1,
            "batch_size": 0,
            "batch_percent": None,
            "horizon_days": 7,
            "customers": [],
        },
        "batches": [],
        "excluded": [],
        "deferred": [],
    }
    assert WavePlan.from_dict(saved).options.batch_size == 0


# --- phones swap edits the file a link inside the book points at ------------------------


def test_swap_edits_the_linked_file_and_keeps_its_mode(tmp_path: Path) -> None:
    from orchestrator.phones.service import open_workspace
    from orchestrator.phones.swap import swap_phone
    from tests.unit.phones_book import settings_for, write_book

    book = write_book(tmp_path / "book", {})
    link = book / "customers" / "acme.yml"
    real = book / "acme-real.yml.src"
    shutil.move(link, real)
    link.symlink_to(real)
    os.chmod(real, 0o640)
    ws = open_workspace(settings_for(tmp_path, book))
    swap_phone(ws, "acme", "80:5E:C0:00:00:01", "805ec0aabbcc", "tech", date(2026, 6, 1),
               publish=False)
    assert link.is_symlink()
    assert '"80:5e:c0:aa:bb:cc"' in real.read_text()
    assert oct(real.stat().st_mode & 0o777) == "0o640"
