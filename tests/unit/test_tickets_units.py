"""Pure parts of the ticket link: which customer a mail is from, what a customer is
offered by their SLA's channels, and the outbox order."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.fleet import load_book
from orchestrator.ledger import Ledger
from orchestrator.ledger import tickets as store
from orchestrator.sla import channels
from orchestrator.tickets import intake
from tests.conftest import DEMO_BOOK

FLEET = load_book(DEMO_BOOK)


def test_sender_matches_by_contact_then_by_unique_domain() -> None:
    assert intake.match(FLEET.customers, "IT desk <IT@Clinic-Nord.example>") == "clinic-nord"
    assert intake.match(FLEET.customers, "anna@clinic-nord.example") == "clinic-nord"
    assert intake.match(FLEET.customers, "someone@nowhere.example") is None
    assert intake.match(FLEET.customers, "not an address") is None


def test_an_address_or_domain_two_customers_share_matches_none() -> None:
    clinic = FLEET.customer("clinic-nord")
    twin = clinic.model_copy(update={"id": "clinic-sued"})
    assert intake.match((clinic, twin), "it@clinic-nord.example") is None  # triage
    assert intake.match((clinic, twin), "anna@clinic-nord.example") is None


def test_subject_becomes_one_printable_line() -> None:
    assert intake.title("Phones\r\ndead\x00") == "Phones  dead"
    assert intake.title("") == "(mail without subject)"
    assert len(intake.title("x" * 400)) == 300


def test_channels_offer_the_on_duty_technicians_phone() -> None:
    wednesday_10_berlin = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    lines = channels.offers(("email", "phone"), FLEET.technicians, wednesday_10_berlin, "s@p.example")
    assert lines == ["E-mail: s@p.example (or reply to this mail)",
                     "Phone: +49 30 5559101 (Mara Weber, on duty)"]
    assert channels.offers(("ticket",), (), wednesday_10_berlin, "s@p.example") == [
        "Tickets: in our ticket system (ask for your login)"
    ]
    nobody = channels.offers(("phone",), (), wednesday_10_berlin, "s@p.example")
    assert nobody == ["Phone: nobody with a number is on duty now; use e-mail"]


def test_channels_without_an_sla_are_email_only() -> None:
    customer = FLEET.customer("clinic-nord")
    assert channels.channels_of(customer, None) == ("email",)
    assert "phone" in channels.channels_of(customer, "clinic-nord-sla")


def test_outbox_rows_are_unique_per_incident_and_action(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}")
    store.enqueue(ledger, 1, "create")
    store.enqueue(ledger, 1, "create")
    store.enqueue(ledger, 1, "ack")
    assert [(e.incident_id, e.action) for e in store.pending(ledger)] == [(1, "create"), (1, "ack")]
    [first, _] = store.pending(ledger)
    store.mark_failed(ledger, first.id, "RT down")
    assert store.pending(ledger)[0].last_error == "RT down"
    store.mark_done(ledger, first.id)
    store.enqueue(ledger, 1, "create")  # done rows are not enqueued again
    assert [e.action for e in store.pending(ledger)] == ["ack"]


def _key_settings(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    from orchestrator.settings import Settings

    monkeypatch.delenv("PBXOPS_SECRET_KEY", raising=False)
    monkeypatch.delenv("PBXOPS_LEDGER_URL", raising=False)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key_file = keys / "secret.key"
    key_file.write_bytes(Fernet.generate_key())
    key_file.chmod(0o600)
    return Settings(state_dir=tmp_path / "state", secret_key_file=key_file)


def test_tickets_login_refuses_a_key_that_does_not_open_the_ledgers_secrets(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch
) -> None:
    import pytest
    from cryptography.fernet import Fernet

    from orchestrator.errors import ConfigError
    from orchestrator.ledger.phones import StoredCredential, add_credentials
    from orchestrator.tickets import credentials

    settings = _key_settings(tmp_path, monkeypatch)
    other_key = Fernet(Fernet.generate_key())  # the key the ledger was written with
    ledger = Ledger(settings.ledger)
    add_credentials(ledger, "pbx1", {"101": StoredCredential("101", other_key.encrypt(b"x").decode())})
    with pytest.raises(ConfigError, match="does not open the SIP password"):
        credentials.store(settings, "rt-password")
    assert not credentials.path(settings).exists()


def test_secrets_init_refuses_when_only_the_rt_secret_is_stored(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch
) -> None:
    import pytest

    from orchestrator.errors import RefusedError
    from orchestrator.secrets_setup import init_key
    from orchestrator.tickets import credentials

    settings = _key_settings(tmp_path, monkeypatch)
    credentials.store(settings, "rt-password")
    settings.secret_key_file.unlink()  # the key lost; the RT secret is still there
    with pytest.raises(RefusedError, match="RT password or token"):
        init_key(settings)
    assert not settings.secret_key_file.exists()


def test_a_ticket_url_with_credentials_is_refused_without_repeating_them() -> None:
    import pytest

    from orchestrator.errors import ConfigError
    from orchestrator.settings import load_settings

    env = {"PBXOPS_TICKET_URL": "https://pbxops:s3cret@rt.example/"}
    with pytest.raises(ConfigError, match=r"ticket_url.*PBXOPS_TICKET_URL.*user name or password") as exc:
        load_settings(env=env)
    assert "s3cret" not in str(exc.value)
    ok = load_settings(env={"PBXOPS_TICKET_URL": "https://rt.example/"})
    assert ok.ticket_url == "https://rt.example/"
