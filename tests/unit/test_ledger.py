"""The ledger on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.ledger import ActionRecord, Ledger


def _exercise(ledger: Ledger) -> None:
    assert ledger.current() == ledger.heads()
    rid = ledger.record(
        ActionRecord(
            "test.action",
            "acme",
            "acme-swm",
            "did a thing",
            "tester",
            host="acme-pbx",
            detail={"before": "18.0.0"},
        )
    )
    rows = ledger.actions(customer_id="acme")
    assert [r.id for r in rows] == [rid]
    assert rows[0].contract_id == "acme-swm" and rows[0].detail == {"before": "18.0.0"}
    assert rows[0].at is not None and rows[0].at.tzinfo is not None
    assert ledger.acquire_lock("wave:1", "proc-a", timedelta(minutes=5)) is None
    assert ledger.acquire_lock("wave:1", "proc-b", timedelta(minutes=5)) == "proc-a"
    ledger.release_lock("wave:1", "proc-a")
    assert ledger.acquire_lock("wave:1", "proc-b", timedelta(minutes=5)) is None


def test_sqlite_ledger_migrates_and_records(tmp_path: Path) -> None:
    _exercise(Ledger(f"sqlite:///{tmp_path}/sub/ledger.sqlite"))
    assert Ledger(f"sqlite:///{tmp_path}/sub/ledger.sqlite").upgrade() == []


def test_expired_lock_can_be_taken_over(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/l.sqlite")
    assert ledger.acquire_lock("x", "dead-process", timedelta(seconds=-1)) is None
    assert ledger.acquire_lock("x", "new-process", timedelta(minutes=1)) is None


def test_a_lock_is_renewed_only_by_its_holder_while_it_holds_it(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}")
    assert ledger.acquire_lock("x", "slow", timedelta(seconds=-1)) is None  # expired at once
    assert ledger.renew_lock("x", "slow", timedelta(minutes=1)) is False  # lost: not renewed
    assert ledger.acquire_lock("x", "other", timedelta(minutes=1)) is None  # taken over
    assert ledger.renew_lock("x", "slow", timedelta(minutes=1)) is False
    assert ledger.renew_lock("x", "other", timedelta(minutes=5)) is True
    assert ledger.lock_holder("x") == "other"
    ledger.release_lock("x", "other")
    assert ledger.renew_lock("x", "other", timedelta(minutes=5)) is False


@pytest.mark.postgres
def test_postgres_ledger_same_migrations(postgres_url: str) -> None:
    _exercise(Ledger(postgres_url, upgrade=True))  # a new team database: `db upgrade`


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="cannot open ledger postgresql"):
        Ledger("postgresql+psycopg2://u:secretpw@127.0.0.1:1/x")


def test_password_never_appears_in_the_error() -> None:
    with pytest.raises(ConfigError) as err:
        Ledger("postgresql+psycopg2://u:secretpw@127.0.0.1:1/x")
    assert "secretpw" not in str(err.value)
