"""Remote access without hosts: pool, allocation under races, CA signing and KRL,
refusals, router templates."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from orchestrator.access import ca, pool, routers, sessions
from orchestrator.access.context import open_context
from orchestrator.access.spokes import spokes_of
from orchestrator.errors import ConfigError, HostError, RefusedError
from orchestrator.fleet import load_book
from orchestrator.ledger import Ledger
from orchestrator.ledger.access import (
    CertificateRequest,
    allocate,
    allocations,
    release,
    revoke_certificates,
)
from orchestrator.model.customer import EdgeRouter
from orchestrator.secrets import Vault
from orchestrator.settings import REPO_ROOT, load_settings

from ..conftest import DEMO_BOOK
from ..secret_key import ensure_key

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


@pytest.fixture
def vault() -> Vault:
    return Vault(Fernet.generate_key())


def test_spoke_addresses_skip_the_hub_and_exhaust_cleanly() -> None:
    net = IPv4Network("10.250.0.0/30")
    assert str(pool.hub_address(net)) == "10.250.0.1"
    assert pool.first_free(net, set()) == "10.250.0.2"
    with pytest.raises(RefusedError, match="exhausted"):
        pool.first_free(net, {"10.250.0.2"})


def test_a_pool_overlapping_a_customer_subnet_is_refused() -> None:
    with pytest.raises(RefusedError, match="overlaps customer networks"):
        pool.check_overlaps(
            IPv4Network("10.210.0.0/16"), [("acme/hq", IPv4Network("10.210.4.0/24"))]
        )


def test_interface_names_fit_linux_and_stay_distinct() -> None:
    long_a, long_b = "a-very-long-customer-one", "a-very-long-customer-two"
    names = {pool.spoke_interface(c) for c in ("acme", long_a, long_b)}
    assert len(names) == 3 and all(len(n) <= 15 for n in names)


def test_concurrent_allocations_never_share_an_address(ledger: Ledger) -> None:
    net = IPv4Network("10.250.0.0/24")

    def claim(i: int) -> str:
        return allocate(
            ledger, f"c{i}", "hq", f"h{i}", lambda used: pool.first_free(net, used)
        ).address

    with ThreadPoolExecutor(max_workers=8) as workers:
        addresses = list(workers.map(claim, range(40)))
    assert len(set(addresses)) == 40
    again = allocate(ledger, "c3", "hq", "h3", lambda used: pool.first_free(net, used))
    assert again.address == addresses[3], "a re-run finds the address it claimed before"


def test_released_addresses_are_reused(ledger: Ledger) -> None:
    net = IPv4Network("10.250.0.0/29")
    first = allocate(ledger, "a", "hq", "a-pbx", lambda used: pool.first_free(net, used)).address
    release(ledger, "a")
    assert allocations(ledger) == []
    assert (
        allocate(ledger, "b", "hq", "b-pbx", lambda used: pool.first_free(net, used)).address
        == first
    )


def _user_key(tmp_path: Path) -> str:
    key = tmp_path / "tech"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text()


def test_certificates_carry_ledger_serials_and_the_krl_revokes_them(
    ledger: Ledger, vault: Vault, tmp_path: Path
) -> None:
    ca.ensure_ca(ledger, vault, "user")
    req = CertificateRequest(
        "user",
        "mweber",
        "acme",
        "acme-sla",
        ("cust-acme",),
        _user_key(tmp_path),
        NOW,
        NOW + timedelta(hours=8),
    )
    first, text1 = ca.sign(ledger, vault, req)
    second, text2 = ca.sign(ledger, vault, req)
    assert second.serial == first.serial + 1
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", "/dev/stdin"],
        input=text1,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Serial: {first.serial}" in shown and "cust-acme" in shown
    revoke_certificates(ledger, [first.serial])
    krl = ca.build_krl(ledger, tmp_path / "krl")
    assert ca.is_revoked(krl, text1) and not ca.is_revoked(krl, text2)
    assert ca.build_krl(ledger, tmp_path / "krl") == krl, "same revocations, same file"


def test_ca_private_keys_are_only_stored_encrypted(ledger: Ledger, vault: Vault) -> None:
    ca.ensure_ca(ledger, vault, "host")
    with ledger.session() as s:
        rows = s.execute(__import__("sqlalchemy").text("select secret from access_keys")).all()
    assert rows and all("PRIVATE KEY" not in r[0] for r in rows)


def test_a_wrong_secret_key_is_a_clear_error(ledger: Ledger, vault: Vault, tmp_path: Path) -> None:
    ca.ensure_ca(ledger, vault, "user")
    req = CertificateRequest(
        "user",
        "mweber",
        "acme",
        None,
        ("cust-acme",),
        _user_key(tmp_path),
        NOW,
        NOW + timedelta(hours=1),
    )
    with pytest.raises(ConfigError, match="wrong secret key"):
        ca.sign(ledger, Vault(Fernet.generate_key()), req)


def test_a_missing_ca_key_is_a_clear_error(ledger: Ledger, vault: Vault, tmp_path: Path) -> None:
    req = CertificateRequest(
        "user",
        "mweber",
        "acme",
        None,
        ("cust-acme",),
        _user_key(tmp_path),
        NOW,
        NOW + timedelta(hours=1),
    )
    with pytest.raises(ConfigError, match="CA key missing"):
        ca.sign(ledger, vault, req)


def test_customers_without_sla_are_refused_remote_access() -> None:
    fleet = load_book(DEMO_BOOK)
    with pytest.raises(RefusedError, match="remote access is an SLA service"):
        spokes_of(fleet, "fjord", date(2026, 6, 1))
    assert [s.contract_id for s in spokes_of(fleet, "clinic-nord", date(2026, 6, 1))] == [
        "clinic-nord-sla"
    ]


def test_the_default_pool_fits_the_demo_book(tmp_path: Path) -> None:
    settings = ensure_key(load_settings(
        args={"state_dir": str(tmp_path), "secret_key_file": str(tmp_path / "k")}, env={}
    ))
    assert open_context(settings).pool == IPv4Network("10.250.0.0/16")
    clash = settings.model_copy(update={"vpn_pool": "10.210.0.0/16"})
    with pytest.raises(RefusedError, match="overlaps"):
        open_context(clash)


def test_certificate_check_explains_each_refusal(
    ledger: Ledger, vault: Vault, tmp_path: Path
) -> None:
    ca.ensure_ca(ledger, vault, "user")
    req = CertificateRequest(
        "user",
        "mweber",
        "acme",
        None,
        ("cust-acme",),
        _user_key(tmp_path),
        NOW,
        NOW + timedelta(hours=1),
    )
    cert, _ = ca.sign(ledger, vault, req)

    class Ctx:
        now = NOW + timedelta(minutes=5)

    sessions.check(Ctx(), cert, "acme")  # type: ignore[arg-type]
    with pytest.raises(RefusedError, match="is for cust-acme, not cust-bravo"):
        sessions.check(Ctx(), cert, "bravo")  # type: ignore[arg-type]
    Ctx.now = NOW + timedelta(hours=2)
    with pytest.raises(RefusedError, match="expired"):
        sessions.check(Ctx(), cert, "acme")  # type: ignore[arg-type]


@pytest.mark.parametrize("device_type", ["linux", "cisco_ios", "mikrotik_routeros"])
def test_router_configs_render_and_pass_their_check(device_type: str) -> None:
    router = EdgeRouter(hostname="edge", address="10.210.4.2", device_type=device_type)  # type: ignore[arg-type]
    text = routers.render(REPO_ROOT, router, "clinic-nord", ["10.210.4.10"], "10.209.0.1:51820")
    assert "10.210.4.10" in text and "10.209.0.1" in text
    assert routers.check(device_type, text) == []
    assert routers.check(device_type, text + "{{ broken }}\n")


def test_golden_cisco_config() -> None:
    router = EdgeRouter(hostname="edge", address="10.210.4.2", device_type="cisco_ios")
    text = routers.render(REPO_ROOT, router, "acme", ["10.210.4.10"], "10.209.0.1:51820")
    assert " permit udp host 10.210.4.10 host 10.209.0.1 eq 51820" in text.splitlines()
    assert (
        "ip nat inside source static udp 10.210.4.10 51820 interface GigabitEthernet0/0 51820"
        in text
    )


def test_a_revoked_technician_gets_no_new_certificate_until_reinstated(tmp_path: Path) -> None:
    from orchestrator.access import service

    settings = ensure_key(load_settings(
        args={"state_dir": str(tmp_path), "secret_key_file": str(tmp_path / "k")}, env={}
    ))
    ctx = open_context(settings)
    ca.ensure_ca(ctx.ledger, ctx.vault, "user")
    public = _user_key(tmp_path)
    sessions.issue(ctx, "mweber", "clinic-nord", public, 1, "ops")
    service.revoke(settings, "mweber", "ops")  # no active tunnels: certificates only
    with pytest.raises(RefusedError, match="mweber's remote access was revoked"):
        sessions.issue(open_context(settings), "mweber", "clinic-nord", public, 1, "ops")
    sessions.issue(ctx, "tkaya", "clinic-nord", public, 1, "ops")  # others unaffected
    with pytest.raises(RefusedError, match="not revoked"):
        service.reinstate(settings, "tkaya", "ops")
    service.reinstate(settings, "mweber", "ops")
    cert, _ = sessions.issue(open_context(settings), "mweber", "clinic-nord", public, 1, "ops")
    assert cert.revoked_at is None


# -- issue 15, finding 5: what certificates permit ---------------------------------------


def test_a_technician_certificate_permits_a_pty_from_the_hub_only(tmp_path: Path) -> None:
    settings = ensure_key(load_settings(
        args={"state_dir": str(tmp_path), "secret_key_file": str(tmp_path / "k")}, env={}
    ))
    ctx = open_context(settings)
    ca.ensure_ca(ctx.ledger, ctx.vault, "user")
    _, text = sessions.issue(ctx, "mweber", "clinic-nord", _user_key(tmp_path), 1, "ops")
    extensions, options = ca.extensions(text)
    assert extensions == ("permit-pty",)
    assert options == (f"source-address {pool.hub_address(ctx.pool)}/32",)
    row = ctx.ledger.actions(kind_prefix="access.certificate")[-1]
    assert row.detail["forwarding"] == [] and "forwarding: none" in row.summary
    assert row.detail["source_addresses"] == [f"{pool.hub_address(ctx.pool)}/32"]


def test_forwarding_is_permitted_only_when_asked_for_and_recorded(tmp_path: Path) -> None:
    settings = ensure_key(load_settings(
        args={"state_dir": str(tmp_path), "secret_key_file": str(tmp_path / "k")}, env={}
    ))
    ctx = open_context(settings)
    ca.ensure_ca(ctx.ledger, ctx.vault, "user")
    public = _user_key(tmp_path)
    _, text = sessions.issue(ctx, "mweber", "clinic-nord", public, 1, "ops", ("agent",))
    assert ca.extensions(text)[0] == ("permit-agent-forwarding", "permit-pty")
    row = ctx.ledger.actions(kind_prefix="access.certificate")[-1]
    assert row.detail["forwarding"] == ["agent"] and "forwarding: agent" in row.summary
    with pytest.raises(ConfigError, match="unknown forwarding"):
        sessions.issue(ctx, "mweber", "clinic-nord", public, 1, "ops", ("everything",))


def test_host_certificates_last_at_most_30_days(tmp_path: Path) -> None:
    from orchestrator.access import service

    settings = ensure_key(load_settings(
        args={"state_dir": str(tmp_path), "secret_key_file": str(tmp_path / "k")}, env={}
    ))
    ctx = open_context(settings)
    ca.ensure_ca(ctx.ledger, ctx.vault, "host")
    spoke = spokes_of(ctx.fleet, "clinic-nord", ctx.today)[0]
    text = service.host_certificate(ctx, spoke, _user_key(tmp_path), "10.250.0.2", False)
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", "-"], input=text, capture_output=True, text=True, check=True
    ).stdout
    valid = next(line for line in shown.splitlines() if "Valid:" in line).split()
    start, end = datetime.fromisoformat(valid[2]), datetime.fromisoformat(valid[4])
    assert "host certificate" in shown
    assert end - start <= timedelta(days=30, minutes=5)


def test_hub_stop_takes_a_hub_that_ended_meanwhile_as_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race hub_pid -> os.kill: the process ended in between (ProcessLookupError)."""
    from orchestrator.access import hub as hub_mod

    ended = subprocess.Popen(["true"])
    ended.wait()  # reaped: its pid names no process
    monkeypatch.setattr(hub_mod, "RUN_DIR", tmp_path)
    monkeypatch.setattr(hub_mod, "hub_pid", lambda ifname: ended.pid)
    hub_mod.pid_file("pbxt-none").write_text(f"{ended.pid}\n")
    assert hub_mod.stop("pbxt-none") is None
    assert not hub_mod.pid_file("pbxt-none").exists()


def test_hub_stop_that_cannot_remove_its_pid_file_is_a_host_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.access import hub as hub_mod

    monkeypatch.setattr(hub_mod, "RUN_DIR", tmp_path)
    hub_mod.pid_file("pbxt-none").mkdir()  # not a file: unlink fails
    with pytest.raises(HostError, match="hub pbxt-none: cannot remove"):
        hub_mod.stop("pbxt-none")
