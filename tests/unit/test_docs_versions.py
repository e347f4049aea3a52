"""Hand-over docs show the installed PBX and OS versions pbxops last verified, with the date
(issue 16, rule 6): from the newest wave result the post-checks verified, never a failed or
running one; 'unknown (never checked by pbxops)' for a system no wave verified."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.fleet import Fleet, load_book
from orchestrator.ledger import Ledger
from orchestrator.ledger import waves as wl
from orchestrator.ledger.versions import last_verified
from orchestrator.reports.docs import NEVER_CHECKED, context, render
from tests.conftest import DEMO_BOOK, REPO

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOST, CUSTOMER = "clinic-nord-pbx", "clinic-nord"


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_book(DEMO_BOOK)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def _wave(ledger: Ledger, kind: str, target: str, finished: datetime, status: str,
          version_after: str = "") -> int:
    plan: dict[str, Any] = {"release": f"{kind}-{target}", "kind": kind, "target": target}
    wave_id = wl.create_wave(ledger, plan, "t", [
        {"hostname": HOST, "customer_id": CUSTOMER, "contract_id": "clinic-nord-swm",
         "batch": 0, "status": wl.PENDING}])
    wl.update_host(ledger, wave_id, HOST, "t", summary="test", status=status,
                   version_after=version_after, finished_at=finished)
    return wave_id


def _docs(fleet: Fleet, ledger: Ledger) -> tuple[str, str]:
    return render(context(fleet, ledger, CUSTOMER, NOW), REPO / "templates" / "docs")


def test_docs_say_never_checked_without_a_verified_wave(fleet: Fleet, ledger: Ledger) -> None:
    _wave(ledger, "pbx", "18.1.0", datetime(2026, 11, 26, 2, 30, tzinfo=UTC), wl.FAILED,
          "18.0.4")
    md, html = _docs(fleet, ledger)
    assert f"- installed PBX version: {NEVER_CHECKED}" in md
    assert f"- installed OS release: {NEVER_CHECKED}" in md
    assert f"<th>installed PBX version</th><td>{NEVER_CHECKED}</td>" in html


def test_docs_show_the_last_verified_versions_with_their_date(
    fleet: Fleet, ledger: Ledger
) -> None:
    _wave(ledger, "pbx", "18.0.4", datetime(2026, 10, 1, 1, 0, tzinfo=UTC), wl.DONE, "18.0.4")
    newest = _wave(ledger, "pbx", "18.1.0", datetime(2026, 11, 26, 2, 30, tzinfo=UTC),
                   wl.ALREADY_AT_TARGET, "18.1.0")
    _wave(ledger, "pbx", "19.0.0", datetime(2026, 11, 28, 2, 0, tzinfo=UTC), wl.ROLLED_BACK,
          "18.1.0")
    os_wave = _wave(ledger, "os", "12.8", datetime(2026, 11, 20, 23, 15, tzinfo=UTC), wl.DONE)
    md, html = _docs(fleet, ledger)
    # times in the customer's timezone (Europe/Berlin): 02:30 UTC is 03:30 local
    assert (f"- installed PBX version: 18.1.0 (verified 2026-11-26 03:30 by update wave "
            f"{newest})") in md
    # an older row without version_after: the wave's target is what it verified
    assert (f"- installed OS release: 12.8 (verified 2026-11-21 00:15 by update wave "
            f"{os_wave})") in md
    assert "<th>installed PBX version</th><td>18.1.0 (verified 2026-11-26 03:30" in html


def test_last_verified_is_per_host_and_kind(ledger: Ledger) -> None:
    _wave(ledger, "pbx", "18.1.0", datetime(2026, 11, 26, 2, 30, tzinfo=UTC), wl.DONE, "18.1.0")
    found = last_verified(ledger, [HOST, "other-pbx"])
    assert set(found) == {(HOST, "pbx")}
    assert found[(HOST, "pbx")].at == datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
    assert last_verified(ledger, []) == {}
