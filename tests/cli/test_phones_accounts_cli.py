"""``pbxops phones publish`` on a real-Asterisk PBX whose stored SIP password would inject
Asterisk configuration: refused before anything is written, exit 5, one message naming the
PBX and extension, the password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from orchestrator.cli import main
from orchestrator.ledger import Ledger
from orchestrator.ledger import phones as ledger_phones
from orchestrator.secrets import Vault
from tests.unit.phones_book import write_book

INJECTION = "Pw;x\n[evil]\ntype=endpoint"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    key = Fernet.generate_key()
    values = {
        "PBXOPS_BOOK": str(write_book(tmp_path / "book", pbx_profile="asterisk")),
        "PBXOPS_STATE_DIR": str(tmp_path / "state"),
        "PBXOPS_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "PBXOPS_SECRET_KEY": key.decode(),
        "PBXOPS_ACTOR": "tech-anna",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PBXOPS_DEBUG", raising=False)
    token = Vault(key).encrypt(INJECTION)
    ledger_phones.add_credentials(Ledger(values["PBXOPS_LEDGER_URL"]), "acme-pbx",
                                  {"102": ledger_phones.StoredCredential("102", token)})
    return values


def test_publish_refuses_a_password_that_would_inject_config(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["phones", "publish", "acme"])
    assert result.exit_code == 5, result.output
    assert "acme-pbx: extension 102: stored SIP password" in result.output
    assert "Traceback" not in result.output and "[evil]" not in result.output
    assert "Pw;x" not in result.output
    state = Path(env["PBXOPS_STATE_DIR"])
    assert not (state / "phones" / "published").exists()  # nothing published, no snapshot
    actions = Ledger(env["PBXOPS_LEDGER_URL"]).actions(kind_prefix="phones.publish")
    assert actions == []


def test_render_shows_the_accounts_problem_too(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["phones", "diff", "acme"])
    assert result.exit_code == 5, result.output
    assert "extension 102" in result.output and "Pw;x" not in result.output
