"""The ledger: one database (SQLite by default, PostgreSQL by URL), migrated by Alembic."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, delete, event, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigError
from .models import Action, Lock, as_utc, utcnow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class ActionRecord:
    """A ledger row as the rest of pbxops sees it."""

    kind: str
    customer_id: str
    contract_id: str | None
    summary: str
    actor: str
    host: str | None = None
    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    id: int | None = None


def _missing_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    return (parsed.get_backend_name() == "sqlite"
            and parsed.database not in (None, "", ":memory:")
            and not Path(parsed.database).exists())


def _engine(url: str, *, create_dir: bool = True) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            "ledger URL is not a database URL (sqlite:///FILE or postgresql+psycopg2://USER@HOST/DB)"
        ) from exc
    sqlite_file = None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        sqlite_file = Path(parsed.database)
        _check_sqlite_file(sqlite_file, create_dir)
    try:
        engine = create_engine(parsed, pool_pre_ping=True, future=True)
    except (NoSuchModuleError, ImportError) as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise ConfigError(
            f"ledger URL {shown}: unknown database or driver {parsed.drivername!r} "
            "(use sqlite:///FILE or postgresql+psycopg2://...)"
        ) from exc
    if sqlite_file is not None:
        event.listen(engine, "connect", lambda *_: _private(sqlite_file))
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _check_sqlite_file(path: Path, create_dir: bool = True) -> None:
    """A new ledger is made only where there is none: an existing empty file (0 bytes, as a
    lost or truncated ledger looks) or something that is not a regular file is an error."""
    try:
        if create_dir:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat() if path.exists() else None
    except OSError as exc:
        raise ConfigError(f"ledger {path}: {exc.strerror or exc}") from exc
    if info is None:
        return
    if not path.is_file():
        raise ConfigError(f"ledger {path} is not a regular file")
    if info.st_size == 0:
        raise ConfigError(
            f"ledger {path} is empty (0 bytes): a lost ledger is not started afresh; restore it "
            "from its backup (or remove the empty file to begin a new ledger)"
        )


def _private(path: Path) -> None:
    """The ledger is 0600 before its WAL and shared-memory files exist: SQLite gives
    those the database file's mode."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Ledger:
    """Per-contract record. Opening it never migrates an existing database.

    ``upgrade=None`` (every command): a new, empty SQLite ledger is created at the current
    schema; a schema behind this pbxops is an error asking for ``pbxops db upgrade``, one
    ahead of it an error naming the newer pbxops. ``upgrade=True`` applies pending
    migrations (``pbxops db upgrade``, ``make setup``); ``upgrade=False`` only reads which
    migrations the database is at (``db status``). ``readonly=True`` creates and changes
    nothing: a SQLite ledger that does not exist yet reads as an empty one.
    """

    def __init__(self, url: str, *, upgrade: bool | None = None, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        missing = readonly and _missing_sqlite_file(url)
        self.exists = not missing  # False: a read-only view of a SQLite ledger not made yet
        self.engine = _engine("sqlite://" if missing else url, create_dir=not readonly)
        self.safe_url = (make_url(url).render_as_string(hide_password=True) if missing
                         else self.engine.url.render_as_string(hide_password=True))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if missing:  # an empty ledger in memory: reads find nothing, nothing is written
            self.upgrade()
        elif upgrade:
            self.upgrade()
        elif upgrade is None:
            try:
                self._open_at_current_schema()
            except ConfigError:
                self.engine.dispose()  # closed: SQLite leaves no -wal/-shm behind
                raise
        else:
            self.current()  # a file that is no database, or a newer schema: said here

    def _open_at_current_schema(self) -> None:
        current, heads = self.current(), self.heads()
        if current == heads:
            return
        if not current and not self.readonly and self._is_new_sqlite():
            self.upgrade()
            return
        if not current:
            raise ConfigError(
                f"ledger {self.safe_url} has no pbxops schema yet: run `pbxops db upgrade` "
                "once to create it"
            )
        raise ConfigError(
            f"ledger {self.safe_url} is at migration {', '.join(sorted(current))}, behind this "
            f"pbxops ({', '.join(sorted(heads))}): run `pbxops db upgrade` (back the ledger "
            "up first); nothing was written"
        )

    def _is_new_sqlite(self) -> bool:
        if self.engine.url.get_backend_name() != "sqlite":
            return False
        with self._connect() as conn:
            return not inspect(conn).get_table_names()

    def _alembic(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return cfg

    def heads(self) -> set[str]:
        return set(ScriptDirectory.from_config(self._alembic()).get_heads())

    def current(self) -> set[str]:
        """The migrations the database is at; ConfigError when it is at one this pbxops
        does not know (written by a newer pbxops: `db upgrade` cannot help)."""
        with self._connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        script = ScriptDirectory.from_config(self._alembic())
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = sorted(current - known)
        if unknown:
            raise ConfigError(
                f"ledger {self.safe_url} is at migration {', '.join(unknown)}, which this pbxops "
                "does not know: it was written by a newer pbxops (install that version; "
                "`pbxops db upgrade` cannot go back)"
            )
        return current

    def upgrade(self) -> list[str]:
        """Apply every pending migration (all branches); return what was applied."""
        before = self.current()
        if before == self.heads():
            return []
        with self._connect() as conn, conn.begin():
            cfg = self._alembic()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
        return sorted(self.current() - before)

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DatabaseError as exc:  # OperationalError, or a file that is not a database
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(f"cannot open ledger {self.safe_url}: {reason}") from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any exception."""
        with self._sessions() as s, s.begin():
            yield s

    def record(self, rec: ActionRecord) -> int:
        with self.session() as s:
            return add_action(s, rec)

    def actions(
        self,
        customer_id: str | None = None,
        contract_id: str | None = None,
        kind_prefix: str | None = None,
    ) -> list[ActionRecord]:
        q = select(Action).order_by(Action.at, Action.id)
        if customer_id:
            q = q.where(Action.customer_id == customer_id)
        if contract_id:
            q = q.where(Action.contract_id == contract_id)
        if kind_prefix:
            q = q.where(Action.kind.startswith(kind_prefix))
        with self.session() as s:
            return [_record(a) for a in s.scalars(q)]

    def acquire_lock(self, name: str, holder: str, ttl: timedelta) -> str | None:
        """Take the lock; return None on success or the current holder if it is held."""
        now = datetime.now(UTC)
        try:
            with self.session() as s:
                s.execute(delete(Lock).where(Lock.name == name, Lock.expires_at < now))
                s.add(Lock(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
            return None
        except IntegrityError:
            with self.session() as s:
                lock = s.get(Lock, name)
                return lock.holder if lock else "unknown"

    def lock_holder(self, name: str) -> str | None:
        """Who holds ``name`` (None: free or expired)."""
        with self.session() as s:
            lock = s.get(Lock, name)
            if lock is None or as_utc(lock.expires_at) < datetime.now(UTC):
                return None
            return lock.holder

    def renew_lock(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Extend ``holder``'s lock by ``ttl`` from now; False when it is not held by
        ``holder`` any more (expired, taken over or released)."""
        now = datetime.now(UTC)
        with self.session() as s:
            result = s.execute(
                update(Lock)
                .where(Lock.name == name, Lock.holder == holder, Lock.expires_at >= now)
                .values(expires_at=now + ttl)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    def release_lock(self, name: str, holder: str) -> None:
        with self.session() as s:
            s.execute(delete(Lock).where(Lock.name == name, Lock.holder == holder))


def _record(a: Action) -> ActionRecord:
    return ActionRecord(
        kind=a.kind,
        customer_id=a.customer_id,
        contract_id=a.contract_id,
        summary=a.summary,
        actor=a.actor,
        host=a.host,
        outcome=a.outcome,
        detail=dict(a.detail or {}),
        at=a.at if a.at.tzinfo else a.at.replace(tzinfo=UTC),
        id=a.id,
    )


def add_action(s: Session, rec: ActionRecord) -> int:
    """Add one action row inside the caller's transaction; its id. Times are stored as UTC
    (SQLite keeps no offset; a naive time is taken as UTC)."""
    row = Action(
        at=as_utc(rec.at) if rec.at else utcnow(),
        actor=rec.actor,
        kind=rec.kind,
        customer_id=rec.customer_id,
        contract_id=rec.contract_id,
        host=rec.host,
        summary=rec.summary,
        outcome=rec.outcome,
        detail=rec.detail,
    )
    s.add(row)
    s.flush()
    return int(row.id)
