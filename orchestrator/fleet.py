"""The contract book: load ``inventory/<book>/`` into the model, validate every
cross-reference (all findings at once), and render the Ansible inventory.

Book layout::

    customers/<customer-id>.yml   one file per customer (a change is a small diff)
    releases.yml                  release catalogue and phone firmware
    tariffs.yml                   prices the pricing basis is computed from
    stock.yml                     spare-parts stock
    technicians.yml               roster (optional)
"""

from __future__ import annotations

import fnmatch
import gc
import multiprocessing
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from . import bookcache, checks
from .bookio import (
    BookFileError,
    PathPart,
    data_path,
    format_path,
    line_of,
    parse_yaml,
    read_book_file,
)
from .errors import BookError, BookIssue, NotFoundError
from .model import Catalog, Customer, Site, Stock, System, Tariffs, Technician

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class HostRef:
    """One PBX system with the customer and site it belongs to."""

    customer: Customer
    site: Site
    system: System

    @property
    def hostname(self) -> str:
        return self.system.hostname

    @property
    def address(self) -> IPv4Address:
        return self.system.address

    @property
    def subnet(self) -> IPv4Network:
        return self.site.subnet


@dataclass(frozen=True)
class Fleet:
    root: Path
    customers: tuple[Customer, ...]
    catalog: Catalog
    tariffs: Tariffs
    stock: Stock
    technicians: tuple[Technician, ...] = ()
    files: dict[str, str] = field(default_factory=dict, compare=False)  # customer id -> file

    def customer(self, customer_id: str) -> Customer:
        for c in self.customers:
            if c.id == customer_id:
                return c
        raise NotFoundError(f"unknown customer {customer_id!r} in book {self.root}")

    def hosts(self, customer_ids: Sequence[str] = ()) -> Iterator[HostRef]:
        wanted = set(customer_ids)
        for cid in wanted:
            self.customer(cid)
        for c in self.customers:
            if wanted and c.id not in wanted:
                continue
            for s in c.systems:
                site = c.site(s.site)
                if site is not None:
                    yield HostRef(c, site, s)

    def host(self, hostname: str) -> HostRef:
        for ref in self.hosts():
            if ref.hostname == hostname:
                return ref
        raise NotFoundError(f"unknown host {hostname!r} in book {self.root}")


class _Collector:
    """Accumulates findings; line numbers are resolved once at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pending: list[tuple[str, tuple[PathPart, ...], str]] = []
        self.fixed: list[BookIssue] = []

    def add(self, rel: str, parts: Sequence[PathPart], message: str) -> None:
        self.pending.append((rel, tuple(parts), message))

    def issues(self) -> list[BookIssue]:
        out = list(self.fixed)
        for rel, parts, message in self.pending:
            line = line_of(self.root / rel, parts, self.root) if parts else None
            out.append(BookIssue(rel, format_path(parts), message, line))
        return out


def _validate_model(model: type[M] | TypeAdapter[Any], data: Any, rel: str, col: _Collector) -> Any:
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            parts = data_path(data, err["loc"])
            col.add(rel, parts, _message(err))
        return None


def _message(err: Any) -> str:
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"unknown key {err['loc'][-1]!r}"
    if err["type"] == "missing":
        return f"missing required key {err['loc'][-1]!r}"
    return msg


def _load_optional(
    root: Path, name: str, model: type[M], col: _Collector, key: str | None, seen: _Seen
) -> M:
    path = root / name
    if not path.exists() and not path.is_symlink():
        seen[name] = None
        return model()
    try:
        raw = read_book_file(path, root)
    except BookFileError as exc:
        col.fixed.append(BookIssue(name, "", str(exc)))
        return model()
    seen[name] = bookcache.content_key(raw)
    data, issue = parse_yaml(raw, name)
    if issue is not None:
        col.fixed.append(issue)
        return model()
    if data is None:
        return model()
    payload = {key: data} if key and isinstance(data, list) else data
    result = _validate_model(model, payload, name, col)
    return result if result is not None else model()


@dataclass(frozen=True)
class _Loaded:
    """One customer file, parsed and schema-validated (possibly in a worker process)."""

    rel: str
    customer: Customer | None
    issue: BookIssue | None = None
    findings: tuple[tuple[tuple[PathPart, ...], str], ...] = ()
    key: bookcache.ContentKey | None = None  # of the bytes this was parsed from


def _load_one(path: Path) -> _Loaded:
    rel = f"customers/{path.name}"
    try:
        raw = read_book_file(path, path.parent.parent)
    except BookFileError as exc:
        return _Loaded(rel, None, BookIssue(rel, "", str(exc)))
    data, issue = parse_yaml(raw, rel)
    key = bookcache.content_key(raw)
    if issue is not None:
        return _Loaded(rel, None, issue, key=key)
    if not isinstance(data, dict):
        no_mapping = (((), "expected a mapping describing one customer"),)
        return _Loaded(rel, None, findings=no_mapping, key=key)
    try:
        return _Loaded(rel, Customer.model_validate(data), key=key)
    except ValidationError as exc:
        found = tuple(
            (data_path(data, e["loc"]), _message(e)) for e in exc.errors(include_url=False)
        )
        return _Loaded(rel, None, findings=found, key=key)


def _load_all(root: Path, names: list[str]) -> tuple[list[_Loaded], bookcache.Entries | None]:
    """Parse and validate the customer files ``names`` of ``root/customers``; large books
    reuse what an earlier load of an unchanged file produced (bookcache) and parse the rest
    on every core. Also the cache's entries of the book (None when the cache is off)."""
    cdir = root / "customers"
    if not bookcache.enabled(len(names)):
        return _parse_all([cdir / n for n in names]), None
    results, texts = _cache_hits(cdir, names, bookcache.load(root))
    missing = [n for n in names if n not in results]
    if missing:
        results.update(zip(missing, _parse_all([cdir / n for n in missing]), strict=True))
    entries = _cache_entries(results, texts)
    if missing:
        bookcache.save(root, entries)
    return [results[n] for n in names], entries


def _cache_hits(
    cdir: Path, names: list[str], cached: bookcache.Entries
) -> tuple[dict[str, _Loaded], dict[str, str]]:
    """Customers of the files whose bytes are those an earlier load parsed, and their
    cached JSON. Each such file is read (through read_book_file, with its checks) to compare
    its content with the cache; the cached customer is validated again."""
    hits: dict[str, _Loaded] = {}
    texts: dict[str, str] = {}
    root, prefix = cdir.parent, f"{cdir}{os.sep}"  # no Path per file: 10,000 of them
    validate = Customer.model_validate_json
    for name in names:
        entry = cached.get(name)
        if entry is None:
            continue
        try:
            key = bookcache.content_key(read_book_file(prefix + name, root))
            customer = validate(entry[1]) if key == entry[0] else None
        except (BookFileError, ValidationError):
            continue  # parsed again: a refusal becomes a finding there
        if customer is not None:
            hits[name] = _Loaded(f"customers/{name}", customer, key=key)
            texts[name] = entry[1]
    return hits, texts


def _cache_entries(results: dict[str, _Loaded], texts: dict[str, str]) -> bookcache.Entries:
    """What the cache keeps: every file that became a customer without findings."""
    return {
        name: (loaded.key, texts.get(name) or loaded.customer.model_dump_json(exclude_unset=True))
        for name, loaded in results.items()
        if loaded.key is not None and loaded.customer is not None and not loaded.findings
    }


def _parse_all(paths: list[Path]) -> list[_Loaded]:
    """YAML construction and validation are CPU-bound: large books use every core."""
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_FROM or workers < 2:
        return [_load_one(p) for p in paths]
    ctx = multiprocessing.get_context("fork")
    chunk = max(64, len(paths) // (workers * 4))
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        return list(pool.map(_load_one, paths, chunksize=chunk))


PARALLEL_FROM = 400


_CUSTOMER_FILE = re.compile(fnmatch.translate("*.y*ml"))  # as Path.glob: dot files too


def _customer_files(cdir: Path) -> list[str]:
    """The names of the customer files, sorted (a 10,000-file book: sorting strings, not
    Paths)."""
    with os.scandir(cdir) as it:
        return sorted(e.name for e in it if _CUSTOMER_FILE.match(e.name))


def _load_customers(root: Path, col: _Collector) -> _Customers:
    cdir = root / "customers"
    if not cdir.is_dir():
        col.fixed.append(
            BookIssue(str(root), "", "not a contract book: customers/ directory missing")
        )
        return _Customers([], {}, None)
    customers: list[Customer] = []
    files: dict[str, str] = {}
    names = _customer_files(cdir)
    loaded_all, entries = _load_all(root, names)
    for name, loaded in zip(names, loaded_all, strict=True):
        if loaded.issue is not None:
            col.fixed.append(loaded.issue)
        for parts, message in loaded.findings:
            col.add(loaded.rel, parts, message)
        customer = loaded.customer
        if customer is None:
            continue
        stem = name.rpartition(".")[0]
        if customer.id != stem:
            col.add(
                loaded.rel,
                ("id",),
                f"customer id {customer.id!r} must match the file name {stem!r}",
            )
        customers.append(customer)
        files.setdefault(customer.id, loaded.rel)
    return _Customers(customers, files, entries)


@dataclass(frozen=True)
class _Customers:
    customers: list[Customer]
    files: dict[str, str]  # customer id -> file
    entries: bookcache.Entries | None  # the parse cache's (None: cache off)


_Seen = dict[str, bookcache.ContentKey | None]  # other book file -> content key (None: absent)


@contextmanager
def _gc_paused(root: Path) -> Iterator[None]:
    """No cyclic garbage collection while the book is built: each collection would walk
    every object made so far (half of a warm 10,000-customer load); worker processes forked
    meanwhile inherit it. A large book's objects (which hold no cycles, and live as long as
    the command) are then moved out of the collector's sight (gc.freeze), else the next
    collection would walk them all once more."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if _large(root):
                gc.freeze()
            gc.enable()


def _large(root: Path) -> bool:
    try:
        return sum(1 for _ in os.scandir(root / "customers")) >= PARALLEL_FROM
    except OSError:
        return False


def validate_book(root: Path | str) -> tuple[Fleet | None, list[BookIssue]]:
    """Load and validate; return the fleet (None if unusable) and every finding."""
    root = Path(root)
    if not root.is_dir():
        return None, [BookIssue(str(root), "", "contract book directory does not exist")]
    with _gc_paused(root):
        return _validate(root)


def _validate(root: Path) -> tuple[Fleet | None, list[BookIssue]]:
    col = _Collector(root)
    loaded = _load_customers(root, col)
    seen: _Seen = {}
    catalog = _load_optional(root, "releases.yml", Catalog, col, "releases", seen)
    tariffs = _load_optional(root, "tariffs.yml", Tariffs, col, None, seen)
    stock = _load_optional(root, "stock.yml", Stock, col, "items", seen)
    roster = _load_optional(root, "technicians.yml", _Roster, col, "technicians", seen)
    fleet = Fleet(
        root, tuple(loaded.customers), catalog, tariffs, stock, roster.technicians, loaded.files
    )
    _cross_check(fleet, col, _verdict_key(loaded, seen, col))
    issues = col.issues()
    return fleet, issues


def _verdict_key(loaded: _Customers, seen: _Seen, col: _Collector) -> str | None:
    """The key under which the cross checks' clean verdict on this exact book is kept:
    only with the parse cache on, and only when every file loaded without a finding."""
    if loaded.entries is None or col.pending or col.fixed:
        return None
    return bookcache.verdict_key(loaded.entries, seen)


def _cross_check(fleet: Fleet, col: _Collector, verdict: str | None) -> None:
    """The cross checks, skipped when they found nothing on this exact book (files and
    code) before; a clean result is recorded for the next load."""
    if verdict is not None and bookcache.verdict_holds(fleet.root, verdict):
        return
    for rel, parts, message in checks.cross_checks(fleet):
        col.add(rel, parts, message)
    if verdict is not None and not col.pending:
        bookcache.save_verdict(fleet.root, verdict)


def load_book(root: Path | str) -> Fleet:
    """The validated fleet; raises BookError with every finding if there is any."""
    fleet, issues = validate_book(root)
    if issues or fleet is None:
        raise BookError(issues)
    return fleet


class _Roster(BaseModel):
    technicians: tuple[Technician, ...] = ()


def entitled_rows(fleet: Fleet, on: date) -> list[dict[str, Any]]:
    """Every system with whether it is entitled to software updates on ``on`` and why."""
    from .model import entitlement, reaction_hours

    rows = []
    for ref in fleet.hosts():
        ent = entitlement(ref.customer, ref.system, on)
        rows.append(
            {
                "customer": ref.customer.id,
                "hostname": ref.hostname,
                "deployment": ref.system.deployment,
                "platform": ref.system.platform,
                "entitled": ent.entitled,
                "contract": ent.contract,
                "reason": ent.reason,
                "reaction_hours": reaction_hours(ref.customer, ref.hostname, on),
            }
        )
    return rows
