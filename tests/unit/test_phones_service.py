"""Phone use cases against a real ledger (SQLite) and a book on disk: credentials,
swaps under hardware maintenance, the spare-parts stock, diff and redaction."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.errors import NotFoundError, RefusedError
from orchestrator.fleet import load_book
from orchestrator.ledger import phones as ledger_phones
from orchestrator.phones import spares
from orchestrator.phones.service import (
    Workspace,
    credentials_for,
    diff_customer,
    open_workspace,
    render_customer,
)
from orchestrator.phones.swap import plan_swap, swap_phone

from .phones_book import settings_for, write_book
from .phones_data import CUSTOMER

ON = date(2026, 6, 1)
PLANTED = "PLANTEDsecretXYZ"
YEALINK = "805ec0000001"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return open_workspace(settings_for(tmp_path, write_book(tmp_path / "book")))


def _plant(ws: Workspace, hostname: str = "acme-pbx", ext: str = "101") -> None:
    token = ws.vault.encrypt(PLANTED)
    ledger_phones.add_credentials(ws.ledger, hostname, {ext: ledger_phones.StoredCredential(ext, token)})


def _db_dump(ws: Workspace) -> str:
    with ws.ledger.engine.connect() as conn:
        rows = []
        for table in ("actions", "phone_credentials", "stock_movements"):
            rows += [repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(rows)


def test_credentials_are_generated_once_and_stored_encrypted(ws: Workspace) -> None:
    system = ws.fleet.customer("acme").systems[0]
    first = credentials_for(ws, system)
    assert sorted(first) == ["101", "102", "103", "104"]
    assert all(len(c.password.reveal()) == 20 for c in first.values())
    again = credentials_for(ws, system)
    assert {k: v.password.reveal() for k, v in again.items()} == {
        k: v.password.reveal() for k, v in first.items()
    }
    dump = _db_dump(ws)
    assert all(c.password.reveal() not in dump for c in first.values())
    assert "***" in repr(first["101"].password)


def test_rendering_twice_gives_identical_files(ws: Workspace) -> None:
    assert render_customer(ws, "acme") == render_customer(ws, "acme")


def test_planted_secret_is_rendered_but_diff_masks_it(ws: Workspace) -> None:
    _plant(ws)
    [host] = render_customer(ws, "acme")
    f = host.files.get(f"{YEALINK}.cfg")
    assert f is not None and f"account.1.password = {PLANTED}" in f.content
    changes = diff_customer(ws, "acme")
    assert {c.status for c in changes} == {"added"}
    shown = "\n".join(line for c in changes for line in c.diff)
    assert PLANTED not in shown and "account.1.password = ********" in shown
    revealed = "\n".join(line for c in diff_customer(ws, "acme", reveal=True) for line in c.diff)
    assert PLANTED in revealed


def test_swap_moves_the_extension_to_the_new_mac_and_uses_a_spare(ws: Workspace) -> None:
    _plant(ws)
    result = swap_phone(ws, "acme", "80:5E:C0:00:00:01", "80-5E-C0-AA-BB-CC", "tech", ON,
                        publish=False)
    assert (result.old_mac, result.new_mac, result.model) == (YEALINK, "805ec0aabbcc", "T54W")
    assert result.contract_id == "acme-hwm"
    book_text = (ws.fleet.root / "customers" / "acme.yml").read_text()
    assert '"80:5e:c0:aa:bb:cc"' in book_text and "80:5E:C0:00:00:01" not in book_text
    assert book_text.startswith("---\n# Contract book entry of")  # comments kept
    phone = load_book(ws.fleet.root).customer("acme").systems[0].phones[0]
    assert (phone.mac, phone.extension) == ("805ec0aabbcc", "101")
    [host] = render_customer(ws, "acme")
    assert f"{YEALINK}.cfg" not in host.files.names
    moved = host.files.get("805ec0aabbcc.cfg")
    assert moved is not None and f"account.1.password = {PLANTED}" in moved.content
    t54w = next(x for x in spares.stock_view(ws) if x.model == "T54W")
    assert (t54w.count, t54w.available) == (1, 1)
    [action] = ws.ledger.actions(customer_id="acme", kind_prefix="phones.swap")
    assert action.contract_id == "acme-hwm" and action.detail["new_mac"] == "805ec0aabbcc"
    assert PLANTED not in _db_dump(ws)


def test_swap_with_a_compatible_model_changes_the_model_in_the_book(tmp_path: Path) -> None:
    system = dict(CUSTOMER["systems"][0])
    system["phones"] = [{**system["phones"][0], "model": "T53W"}]
    ws = open_workspace(settings_for(tmp_path, write_book(tmp_path / "book", {"systems": [system]})))
    result = swap_phone(ws, "acme", YEALINK, "805ec0aabbcd", "tech", ON, publish=False)
    assert result.model == "T54W"
    assert ws.fleet.customer("acme").systems[0].phones[0].model == "T54W"


def test_swap_is_refused_without_hardware_maintenance(ws: Workspace) -> None:
    before = (ws.fleet.root / "customers" / "nohw.yml").read_text()
    with pytest.raises(RefusedError, match="nohw has no hardware-maintenance contract covering nohw-pbx"):
        swap_phone(ws, "nohw", "805ec0000901", "805ec0000902", "tech", ON, publish=False)
    assert (ws.fleet.root / "customers" / "nohw.yml").read_text() == before
    assert ledger_phones.stock_movements(ws.ledger) == []


def test_swap_is_refused_after_the_contract_ended(ws: Workspace) -> None:
    with pytest.raises(RefusedError, match="no hardware-maintenance contract"):
        plan_swap(ws, "acme", YEALINK, "805ec0aabbcc", date(2027, 1, 1))


def test_swap_is_refused_without_compatible_stock(ws: Workspace) -> None:
    with pytest.raises(RefusedError, match=r"no compatible spare in stock for snom D785; compatible stock: D785: 0 available"):
        swap_phone(ws, "acme", "0004130000ab", "000413aabbcc", "tech", ON, publish=False)
    assert ws.ledger.actions(kind_prefix="phones.swap") == []


def test_swap_is_refused_for_a_mac_already_in_the_book(ws: Workspace) -> None:
    with pytest.raises(RefusedError, match="already in the book"):
        plan_swap(ws, "acme", YEALINK, "805ec0000901", ON)


def test_swap_of_an_unknown_or_malformed_mac(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no phone with MAC 805ec0ffffff"):
        plan_swap(ws, "acme", "805ec0ffffff", "805ec0aabbcc", ON)
    with pytest.raises(RefusedError, match="malformed MAC"):
        plan_swap(ws, "acme", YEALINK, "not-a-mac", ON)


def test_stock_is_baseline_plus_movements(ws: Workspace) -> None:
    grp = next(x for x in spares.stock_view(ws) if x.model == "GRP2614")
    assert (grp.count, grp.reserved, grp.available, grp.low) == (3, 1, 2, False)
    spares.receive(ws, "snom", "D785", 2, "tech", note="delivery 42")
    level = spares.reserve(ws, "snom", "D785", 1, "tech", customer_id="acme", note="planned swap")
    assert (level.count, level.reserved, level.available, level.low) == (2, 1, 1, True)
    with pytest.raises(RefusedError, match="only 1 available"):
        spares.reserve(ws, "snom", "D785", 2, "tech")
    level = spares.reserve(ws, "snom", "D785", 1, "tech", release=True)
    assert level.reserved == 0
    with pytest.raises(RefusedError, match="0 reserved"):
        spares.reserve(ws, "snom", "D785", 1, "tech", release=True)
    [action] = ws.ledger.actions(customer_id="acme", kind_prefix="stock.")
    assert action.kind == "stock.reserve"


def test_receiving_an_unknown_model_is_refused(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no snom profile for model 'X1'"):
        spares.receive(ws, "snom", "X1", 1, "tech")
