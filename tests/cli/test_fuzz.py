"""Issue 15: the fuzz test. Hypothesis mutates the demo book's YAML (types, dates, keys,
duplicates, encodings, truncation) and generates command-line values (numbers, NaN, huge,
negative, empty, odd Unicode), and runs read and plan commands on them. For every run:

- no traceback (a library error reaches the user as one line);
- an exit code from the README's table (0-7, 130);
- a failure names where it is (the book file, or the option);
- when the command failed, the state directory is unchanged: every file byte for byte,
  except SQLite's -wal/-shm companions, whose content is compared through a dump of the
  ledger (a fresh connection reads the WAL).

Runs at unit level (CliRunner, no lab), in well under a minute."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.cli import main
from tests.conftest import DEMO_BOOK

README_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 130}

FUZZ = settings(
    max_examples=int(os.environ.get("PBXOPS_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("PBXOPS_FUZZ_RANDOM") != "1",  # CI: the same examples
)

BOOK_FILES = sorted(
    str(p.relative_to(DEMO_BOOK)) for p in DEMO_BOOK.rglob("*.yml") if p.is_file()
)


# -- the world a command runs in -----------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dir with a migrated ledger and one wave, made once and copied per example."""
    top = tmp_path_factory.mktemp("fuzz-template")
    env = _env(top / "state", DEMO_BOOK)
    for argv in (["db", "upgrade"], ["secrets", "init"], ["wave", "plan", "--release", "pbx-18.1",
                                     "--at", "2026-11-25T12:00"]):
        result = CliRunner().invoke(main, argv, env=env)
        assert result.exit_code == 0, result.output
    return top / "state"


def _env(state: Path, book: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PBXOPS_")},
        "PBXOPS_STATE_DIR": str(state),
        "PBXOPS_BOOK": str(book),
        "PBXOPS_SECRET_KEY_FILE": str(state / "secret.key"),
        "PBXOPS_SMTP_PORT": "1",  # a mail attempt fails at once
        "PBXOPS_BOOK_CACHE": "0",
        "XDG_CACHE_HOME": str(state.parent / "cache"),
    }


@contextmanager
def world(tmp_path: Path, template: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh (state dir, book) pair for one example."""
    work = Path(tempfile.mkdtemp(prefix="fuzz-", dir=tmp_path))
    try:
        state, book = work / "state", work / "book"
        shutil.copytree(template, state)
        shutil.copytree(DEMO_BOOK, book)
        yield state, book
    finally:
        shutil.rmtree(work, ignore_errors=True)


def snapshot(state: Path) -> dict[str, str]:
    """Every file under ``state`` by content hash; the ledger as its SQL dump."""
    out: dict[str, str] = {}
    for path in sorted(state.rglob("*")):
        name = str(path.relative_to(state))
        if path.is_dir() or name.endswith(("-wal", "-shm")):
            out[name] = "dir" if path.is_dir() else out.get(name, "")
            continue
        out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        if name.endswith(".sqlite"):
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                dump = "\n".join(conn.iterdump())
            out[name + " (dump)"] = hashlib.sha256(dump.encode()).hexdigest()
    return {k: v for k, v in out.items() if not k.endswith(("-wal", "-shm"))}


def run(state: Path, book: Path, argv: list[str]) -> Result:
    return CliRunner().invoke(main, argv, env=_env(state, book), catch_exceptions=True)


def check(result: Result, argv: list[str], where: tuple[str, ...],
          before: dict[str, str], state: Path) -> None:
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        raise AssertionError(f"traceback for {argv}: {exc!r}\n{result.output}") from exc
    assert result.exit_code in README_EXIT_CODES, (argv, result.exit_code, result.output)
    if result.exit_code == 0:
        return
    assert "Traceback" not in result.output, result.output
    text = result.output.lower()
    assert any(w.lower() in text for w in where), (
        f"{argv} failed (exit {result.exit_code}) without naming any of {where}:\n"
        f"{result.output}"
    )
    assert snapshot(state) == before, f"{argv} failed and changed the state dir"


# -- mutations of the book ---------------------------------------------------------------------

ODD_TEXT = st.sampled_from([
    "", " ", "\x00", "\u202e", "\ufeff", "\u2028", "ß", "𝔘𝔫𝔦", "' ; touch /tmp/x #",
    "{{ lookup('pipe','id') }}", "*anchor", "&a", "!!python/object:os.system", "- x",
    "a: b", "\"unterminated", "0x1F", "1e309", ".nan", "-.inf", "~", "null", "yes", "no",
])
ODD_DATES = st.sampled_from([
    "2027-02-30", "2026-13-01", "0000-01-01", "0001-01-01", "9999-12-31", "2026-1-1",
    "2026-11-25T25:00", "20261125", "2027-02-29", "1970-01-01", "-2026-01-01",
])
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    ODD_TEXT,
    ODD_DATES,
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(node: object, prefix: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _set(node: object, path: tuple[object, ...], value: object, delete: bool) -> object:
    if not path:
        return value
    parent = node
    for key in path[:-1]:
        parent = parent[key]  # type: ignore[index]
    if delete:
        del parent[path[-1]]  # type: ignore[attr-defined]
    else:
        parent[path[-1]] = value  # type: ignore[index]
    return node


@st.composite
def structural(draw: st.DrawFn, text: str) -> bytes:
    """Replace or delete one node of the parsed YAML, or add an unknown key."""
    data = yaml.safe_load(text)
    paths = list(_paths(data))
    path = draw(st.sampled_from(paths))
    how = draw(st.sampled_from(["replace", "delete", "unknown-key"]))
    if how == "unknown-key" or (how == "delete" and not path):
        target = data
        for key in path:
            target = target[key]
        if isinstance(target, dict):
            target[draw(st.sampled_from(["extra", "Id", "id ", "ïd"]))] = draw(SCALARS)
    else:
        data = _set(data, path, draw(SCALARS), delete=how == "delete")
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


def _line_edit(how: str, lines: list[str], i: int, odd: str) -> str:
    before, line, after = lines[:i], lines[i : i + 1], lines[i + 1 :]
    if how == "duplicate-line":  # a key given twice, or a list item twice
        return "".join([*before, *line, *line, *after])
    if how == "drop-line":
        return "".join([*before, *after])
    if how == "tab-indent":
        return "".join([*before, *(x.replace("  ", "\t", 1) for x in line), *after])
    if line and ":" in line[0]:  # "scalar": an odd value for this key
        return "".join([*before, f"{line[0].split(':', 1)[0]}: {odd}\n", *after])
    return "".join(lines)


@st.composite
def textual(draw: st.DrawFn, text: str) -> bytes:
    """Edit the text as a careless person would."""
    how = draw(st.sampled_from([
        "truncate", "date", "duplicate-line", "drop-line", "latin-1", "utf-16", "bytes",
        "tab-indent", "scalar",
    ]))
    raw = text.encode()
    if how == "truncate":
        return raw[: draw(st.integers(0, len(raw)))]
    if how == "date":
        dates = list(re.finditer(r"\d{4}-\d{2}-\d{2}", text)) or [re.match("", text)]
        m = draw(st.sampled_from(dates))
        assert m is not None
        return (text[: m.start()] + draw(ODD_DATES) + text[m.end() :]).encode()
    if how == "latin-1":
        return (text + "# Straße Ärger\n").encode("latin-1", errors="replace")
    if how == "utf-16":
        return text.encode("utf-16")
    if how == "bytes":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=6)) + raw[at:]
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    return _line_edit(how, lines, i, draw(ODD_TEXT)).encode()


@st.composite
def book_mutation(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(BOOK_FILES))
    text = (DEMO_BOOK / name).read_text()
    content = draw(st.one_of(structural(text), textual(text)))
    return name, content


# each with what else may name the place of a failure (an unknown name is its own place)
BOOK_COMMANDS: list[tuple[list[str], tuple[str, ...]]] = [
    (["fleet", "validate"], ()),
    (["wave", "plan", "--release", "pbx-18.1", "--dry-run", "--at", "2026-11-25T12:00"],
     ("unknown release 'pbx-18.1'",)),
    (["fleet", "entitled", "--on", "2026-11-25"], ()),
    (["fleet", "show"], ()),
    (["wave", "status", "1"], ()),
]


@FUZZ
@given(mutation=book_mutation())
def test_a_mutated_book_never_ends_in_a_traceback(
    mutation: tuple[str, bytes], tmp_path: Path, template: Path
) -> None:
    name, content = mutation
    with world(tmp_path, template) as (state, book):
        (book / name).write_bytes(content)
        for argv, named in BOOK_COMMANDS:
            before = snapshot(state)
            result = run(state, book, argv)
            check(result, argv, (Path(name).name, "contract book", *named), before, state)


# -- generated command-line values ---------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e309", "-0", "0", "0x10", "1_000",
                     "", " ", "٣", "１２", "1.5", "-1", "99999999999999999999"]),
)
ODD_ARGS = st.one_of(
    ODD_TEXT, ODD_DATES, st.text(max_size=20),
    st.sampled_from(["9999-12-31T23:59", "0001-01-01", "2026-11-25T12:00", "2026-02-30",
                     "9999-12-31T23:59+00:00", "0001-01-01T00:00+00:00",
                     "2026-11-25T09:10+01:00", "2026-11-25T09:10+99:00"]),
)


def _option(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(values.map(lambda v: [name, v]), max_size=1).map(
        lambda xs: [a for pair in xs for a in pair]
    )


def _opts(spec: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*[_option(k, v) for k, v in spec.items()]).map(
        lambda parts: [a for part in parts for a in part]
    )


CLI_CASES: dict[str, tuple[list[str], st.SearchStrategy[list[str]], tuple[str, ...]]] = {
    "wave plan": (
        ["wave", "plan", "--release", "pbx-18.1"],
        # --at: not the calendar's last days yet — the planner's window arithmetic overflows
        # there (planner.py/model/window.py: a bound on --at belongs to PlanOptions)
        _opts({"--canary": NUMBERS, "--batch-size": NUMBERS, "--batch-percent": NUMBERS,
               "--horizon": NUMBERS, "--at": ODD_ARGS,
               "--customers": ODD_ARGS}),
        ("--canary", "--batch-size", "--batch-percent", "--horizon", "--at", "--customers",
         "customer", "no system"),
    ),
    "hours book": (
        ["hours", "book", "bergmann"],
        st.tuples(st.one_of(NUMBERS, ODD_ARGS), ODD_ARGS).map(lambda t: ["--", *t]),
        ("hours", "HOURS", "TEXT", "h in one booking", "work"),
    ),
    "incident open": (
        ["incident", "open", "--no-mail"],
        st.tuples(st.sampled_from(["bergmann", "nosuch", ""]), ODD_ARGS, _option("--at", ODD_ARGS))
        .map(lambda t: ["--", t[0], t[1]] if not t[2] else [*t[2], "--", t[0], t[1]]),
        ("--at", "title", "customer", "TITLE", "CUSTOMER"),
    ),
    "sla report": (
        ["sla", "report"],
        _opts({"--period": ODD_ARGS, "--from": ODD_ARGS, "--to": ODD_ARGS,
               "--customer": ODD_ARGS}),
        ("--period", "--from", "--to", "--customer", "customer", "period"),
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
@FUZZ
@given(data=st.data())
def test_generated_option_values_never_end_in_a_traceback(
    case: str, data: st.DataObject, tmp_path: Path, template: Path
) -> None:
    base, extra, where = CLI_CASES[case]
    argv = [*base, *data.draw(extra, label="args")]
    with world(tmp_path, template) as (state, book):
        before = snapshot(state)
        result = run(state, book, argv)
        check(result, argv, where, before, state)


# Inputs the fuzzing and the issue found (each a traceback or a silent acceptance before):
# they must fail, cleanly, naming where, writing nothing.
FOUND = [
    (["sla", "report", "--to", "9999-12-31"], "--to"),
    (["sla", "report", "--period", "9999"], "--period"),
    (["incident", "open", "--no-mail", "--at", "9999-12-31T23:59+00:00", "--", "bergmann", "x"],
     "--at"),
    (["incident", "open", "--no-mail", "--at", "0001-01-01T00:00+00:00", "--", "bergmann", "x"],
     "--at"),
    (["incident", "open", "--", "bergmann", "down\r\nBcc: x@y.example"], "title"),
    (["hours", "book", "bergmann", "--", "nan", "IVR"], "hours"),
]


@pytest.mark.parametrize(("argv", "where"), FOUND, ids=[" ".join(a[:2]) for a, _ in FOUND])
def test_inputs_found_by_fuzzing_fail_cleanly(
    argv: list[str], where: str, tmp_path: Path, template: Path
) -> None:
    with world(tmp_path, template) as (state, book):
        before = snapshot(state)
        result = run(state, book, argv)
        assert result.exit_code != 0, result.output
        check(result, argv, (where,), before, state)
