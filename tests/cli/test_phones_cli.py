"""``pbxops phones`` and ``pbxops stock`` through click: output, exit codes, --json,
and that SIP passwords only ever appear with --show-secrets (which is recorded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.ledger import Ledger
from orchestrator.ledger import phones as ledger_phones
from orchestrator.secrets import Vault
from tests.secret_key import ensure_key_env
from tests.unit.phones_book import write_book

PLANTED = "PLANTEDcliSecret42"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    book = write_book(tmp_path / "book")
    values = {
        "PBXOPS_BOOK": str(book),
        "PBXOPS_STATE_DIR": str(tmp_path / "state"),
        "PBXOPS_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "PBXOPS_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
        "PBXOPS_ACTOR": "tech-anna",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PBXOPS_DEBUG", raising=False)
    monkeypatch.delenv("PBXOPS_SECRET_KEY", raising=False)
    ensure_key_env(values)
    ledger = Ledger(values["PBXOPS_LEDGER_URL"])
    token = Vault.from_settings(Path(values["PBXOPS_SECRET_KEY_FILE"])).encrypt(PLANTED)
    ledger_phones.add_credentials(ledger, "acme-pbx", {"101": ledger_phones.StoredCredential("101", token)})
    return values


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _ledger(env: dict[str, str]) -> Ledger:
    return Ledger(env["PBXOPS_LEDGER_URL"])


def test_render_lists_files_without_secrets(env: dict[str, str]) -> None:
    code, out = _run("phones", "render", "acme", "--json")
    assert code == 0, out
    files = json.loads(out)["files"]
    assert {f["file"] for f in files} >= {"805ec0000001.cfg", "cfgc074ad000004.xml"}
    assert PLANTED not in out


def test_render_out_masks_passwords_unless_show_secrets(env: dict[str, str], tmp_path: Path) -> None:
    code, out = _run("phones", "render", "acme", "--out", str(tmp_path / "out"))
    assert code == 0, out
    text = (tmp_path / "out" / "acme-pbx" / "805ec0000001.cfg").read_text()
    assert "account.1.password = ********" in text and PLANTED not in out
    assert _ledger(env).actions(kind_prefix="phones.secrets_shown") == []

    code, out = _run("phones", "render", "acme", "--out", str(tmp_path / "clear"), "--show-secrets")
    assert code == 0, out
    assert PLANTED in (tmp_path / "clear" / "acme-pbx" / "805ec0000001.cfg").read_text()
    [shown] = _ledger(env).actions(kind_prefix="phones.secrets_shown")
    assert shown.actor == "tech-anna" and shown.customer_id == "acme"
    assert PLANTED not in shown.summary + json.dumps(shown.detail)


def test_show_secrets_without_out_is_refused(env: dict[str, str]) -> None:
    code, out = _run("phones", "render", "acme", "--show-secrets")
    assert code == 5 and "needs --out" in out


def test_credentials_mask_by_default(env: dict[str, str]) -> None:
    code, out = _run("phones", "credentials", "acme", "--json")
    assert code == 0 and PLANTED not in out
    assert {r["password"] for r in json.loads(out)} == {"********"}
    code, out = _run("phones", "credentials", "acme", "--show-secrets", "--json")
    assert code == 0 and PLANTED in out
    assert len(_ledger(env).actions(kind_prefix="phones.secrets_shown")) == 1


def test_diff_before_first_publish_shows_added_files_masked(env: dict[str, str]) -> None:
    code, out = _run("phones", "diff", "acme")
    assert code == 0, out
    assert "added    acme-pbx/805ec0000001.cfg" in out
    assert "account.1.password = ********" in out and PLANTED not in out
    assert "6 of 6 files would change" in out


def test_swap_refused_without_hardware_maintenance(env: dict[str, str]) -> None:
    code, out = _run("phones", "swap", "nohw", "--old", "80:5e:c0:00:09:01",
                     "--new", "80:5e:c0:00:09:02", "--on", "2026-06-01")
    assert code == 5
    assert "error: customer nohw has no hardware-maintenance contract covering nohw-pbx" in out


def test_swap_refused_without_compatible_stock(env: dict[str, str]) -> None:
    code, out = _run("phones", "swap", "acme", "--old", "00:04:13:00:00:ab",
                     "--new", "00:04:13:00:00:ac", "--on", "2026-06-01")
    assert code == 5 and "no compatible spare in stock for snom D785" in out


def test_swap_without_publish_changes_stock_and_ledger(env: dict[str, str]) -> None:
    code, out = _run("phones", "swap", "acme", "--old", "80:5e:c0:00:00:01",
                     "--new", "80:5e:c0:aa:bb:cc", "--no-publish", "--on", "2026-06-01")
    assert code == 0, out
    assert "extension 101 on acme-pbx: 805ec0000001 -> 805ec0aabbcc (T54W)" in out
    assert "acme-hwm" in out
    code, out = _run("stock", "show", "--json")
    t54w = next(r for r in json.loads(out) if r["model"] == "T54W")
    assert (t54w["count"], t54w["available"], t54w["low"]) == (1, 1, True)
    [swap] = _ledger(env).actions(kind_prefix="phones.swap")
    assert swap.actor == "tech-anna" and swap.contract_id == "acme-hwm"


def test_stock_receive_and_reserve(env: dict[str, str]) -> None:
    code, out = _run("stock", "receive", "snom", "D785", "--count", "3", "--json")
    assert code == 0 and json.loads(out)[0]["count"] == 3
    code, out = _run("stock", "reserve", "snom", "D785", "--count", "2", "--customer", "acme")
    assert code == 0 and "Reserved" in out
    code, out = _run("stock", "reserve", "snom", "D785", "--count", "2")
    assert code == 5 and "only 1 available" in out
    code, out = _run("stock", "show")
    assert code == 0 and "LOW STOCK" in out


def test_unknown_customer_is_a_clear_error(env: dict[str, str]) -> None:
    code, out = _run("phones", "publish", "nobody")
    assert code == 4 and "unknown customer 'nobody'" in out
