"""Remote access end to end on real lab hosts: a WireGuard tunnel through wireguard-go,
technicians logging in over it with fresh certificates and verifying hosts by their host
certificates; revocation, rotation, wrong principals and expired certificates refused;
`pbxops run` (Fabric) on every host of a customer, recorded in the ledger; a Linux edge
router configured through Netmiko.

Lab hosts: lab-01 acme, lab-02 bravo, lab-03 + lab-04 delta (one site), lab-05 delta's
edge router (Linux, nftables)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from orchestrator import executor, lab
from orchestrator.access import ca, hub, service, sessions
from orchestrator.access.context import open_context
from orchestrator.access.pool import hub_address
from orchestrator.cli import main
from orchestrator.errors import LabError, RefusedError
from orchestrator.ledger.access import CertificateRequest, allocations
from orchestrator.settings import Settings, load_settings

from ..conftest import DEMO_BOOK, VALID_CUSTOMER
from ..secret_key import ensure_key
from .conftest import eventually, running_lab

pytestmark = pytest.mark.lab
DEBS = Path("/var/cache/pbxops-lab/debs")
ROUTER_DEBS = Path("/var/cache/pbxops-lab/router-debs")
NFTABLES = ("nftables", "libnftables1", "libnftnl11", "libjansson4")
DELTA_HOSTS = {"lab-03": "10.210.0.12", "lab-04": "10.210.0.13"}
DELTA_ROUTER = "lab-05"  # 10.210.0.14


def customer(cid: str, host: str, address: str, sla: bool) -> dict[str, Any]:
    c: dict[str, Any] = yaml.safe_load(yaml.safe_dump(VALID_CUSTOMER))
    c["id"], c["name"] = cid, f"{cid} GmbH"
    c["sites"] = [{"id": "hq", "subnet": f"{address}/32"}]  # lab hosts share one /24
    system = c["systems"][0]
    system.update(hostname=host, address=address, site="hq", phones=[], pbx_profile="labpbx")
    start, end = "2025-01-01", "2035-12-31"
    c["contracts"] = [
        {**k, "id": f"{cid}-{k['kind']}", "start": start, "end": end} for k in c["contracts"]
    ]
    if not sla:
        c["contracts"] = [k for k in c["contracts"] if k["kind"] == "software_maintenance"]
    return c


def delta() -> dict[str, Any]:
    """Two PBXs on one site whose edge router is a Linux host (lab-05)."""
    c = customer("delta", "lab-03", DELTA_HOSTS["lab-03"], sla=True)
    c["sites"] = [
        {
            "id": "hq",
            "subnet": "10.210.0.12/30",
            "edge_router": {"hostname": "delta-edge", "address": "10.210.0.14"},
        }
    ]
    second = {**c["systems"][0], "hostname": "lab-04", "address": DELTA_HOSTS["lab-04"]}
    c["systems"].append(second)
    return c


def wireguard_debs() -> Path:
    if not any(DEBS.glob("wireguard-go_*.deb")):
        DEBS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["apt-get", "download", "wireguard-tools", "wireguard-go"], cwd=DEBS, check=True
        )
    return DEBS


@pytest.fixture(scope="module")
def lab5(lab_settings: Settings) -> Iterator[lab.LabState]:
    with running_lab(lab_settings, lab.synthetic_specs(5)) as state:
        yield state


@pytest.fixture(scope="module")
def access_settings(
    lab5: lab.LabState, lab_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    if shutil.which("wireguard-go") is None:
        pytest.skip("wireguard-go missing (apt-get install -t bookworm-backports wireguard-go)")
    root = tmp_path_factory.mktemp("access")
    book = root / "book"
    (book / "customers").mkdir(parents=True)
    for name in ("technicians.yml",):  # the rest of the book is not needed here
        shutil.copy(DEMO_BOOK / name, book / name)
    for c in (
        customer("acme", "lab-01", "10.210.0.10", sla=True),
        customer("bravo", "lab-02", "10.210.0.11", sla=True),
        customer("nosla", "nosla-pbx", "10.210.0.99", sla=False),  # refused: never reached
        delta(),
    ):
        (book / "customers" / f"{c['id']}.yml").write_text(yaml.safe_dump(c, sort_keys=False))
    settings = load_settings(
        args={
            "lab_run_dir": lab_settings.lab_run_dir,
            "book": str(book),
            "state_dir": str(root / "state"),
            "secret_key_file": str(root / "secret.key"),
            "ssh_config": str(lab.LabPaths.of(lab_settings).ssh_config),
            "vpn_debs_dir": str(wireguard_debs()),
        },
        env={},
    )
    ensure_key(settings)
    try:
        yield settings
    finally:
        hub.stop(settings.vpn_hub_interface)


def ssh_as(
    session: sessions.Session, address: str, *command: str
) -> subprocess.CompletedProcess[str]:
    from orchestrator import remote

    argv = remote.ssh_argv(session.credentials, address, list(command))
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def tcp_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def handshake(settings: Settings, public_key: str) -> bool:
    peer = hub.peers(settings.vpn_hub_interface).get(public_key)
    return bool(peer and peer.latest_handshake)


def tunnel_key(settings: Settings, cid: str) -> str:
    rows = allocations(open_context(settings).ledger, cid)
    return str(rows[0].public_key) if rows else ""


def test_a_customer_without_sla_is_refused(access_settings: Settings) -> None:
    with pytest.raises(RefusedError, match="remote access is an SLA service"):
        service.grant(access_settings, "nosla", "test")


def test_grant_brings_up_a_tunnel_and_a_certificate_login_over_it(
    access_settings: Settings,
) -> None:
    first = service.grant(access_settings, "acme", "test")
    assert [h.status for h in first.hosts] == ["active"]
    tunnel = first.hosts[0].tunnel_address
    assert eventually(lambda: handshake(access_settings, tunnel_key(access_settings, "acme")), 30)
    again = service.grant(access_settings, "acme", "test")
    assert [h.changed for h in again.hosts] == [0], "a second grant must change nothing"
    session = sessions.open_session(access_settings, "mweber", "acme")
    done = ssh_as(session, tunnel, "hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lab-01"
    known = session.credentials.known_hosts.read_text()
    assert known.startswith("@cert-authority ") and "ssh-ed25519" in known
    results = sessions.run(access_settings, session, ["cat", "/etc/hostname"])
    assert [(r.host, r.exit_code, r.stdout.strip()) for r in results] == [("lab-01", 0, "lab-01")]
    runs = open_context(access_settings).ledger.actions("acme", kind_prefix="access.run")
    assert runs[-1].actor == "mweber" and runs[-1].detail["exit_code"] == 0


def cli(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={**_env_of(settings), "PBXOPS_ACTOR": "ops"})


def run_rows(settings: Settings, cid: str) -> list[Any]:
    return open_context(settings).ledger.actions(cid, kind_prefix="access.run")


def test_run_goes_through_the_tunnel_on_every_host_and_is_recorded(
    access_settings: Settings,
) -> None:
    granted = cli(access_settings, "access", "grant", "delta")
    assert granted.exit_code == 0, granted.output
    tunnels = {r["host"]: r["tunnel_address"] for r in service.status(access_settings, "delta")}
    assert sorted(tunnels) == sorted(DELTA_HOSTS)
    hub_ip = str(hub_address(open_context(access_settings).pool))
    before = len(run_rows(access_settings, "delta"))

    done = cli(
        access_settings,
        "run",
        "delta",
        "--as",
        "mweber",
        "--",
        'echo "$(hostname) $SSH_CONNECTION"',  # one argument, as with ssh
    )
    assert done.exit_code == 0, done.output
    for host, tunnel in tunnels.items():
        block = done.stdout.split(f"== {host} (exit 0)\n", 1)[1].splitlines()[0].split()
        # "<hostname> <client ip> <client port> <server ip> <server port>": over the tunnel
        assert (block[0], block[1], block[3]) == (host, hub_ip, tunnel)
    rows = run_rows(access_settings, "delta")[before:]
    assert sorted(r.host for r in rows) == sorted(DELTA_HOSTS)
    ctx = open_context(access_settings)
    serials = {r.detail["serial"] for r in rows}
    assert len(serials) == 1, "one certificate for the run"
    cert = next(c for c in ca_certs(ctx, "mweber") if c.serial in serials)
    assert cert.principals == ("cust-delta",) and cert.valid_at(ctx.now)
    assert cert.valid_before - cert.valid_after <= timedelta(hours=sessions.MAX_HOURS, minutes=5)
    for r in rows:
        assert (r.actor, r.detail["exit_code"], r.outcome) == ("mweber", 0, "ok")
        assert r.summary == 'echo "$(hostname) $SSH_CONNECTION"' and r.at is not None

    failing = cli(
        access_settings,
        "run",
        "delta",
        "--as",
        "mweber",
        "--",
        'test "$(hostname)" = lab-03 || exit 4',
    )
    assert failing.exit_code == 4, failing.output
    assert "== lab-03 (exit 0)" in failing.stdout and "== lab-04 (exit 4)" in failing.stdout
    rows = run_rows(access_settings, "delta")[before + 2 :]
    assert {r.host: (r.detail["exit_code"], r.outcome) for r in rows} == {
        "lab-03": (0, "ok"),
        "lab-04": (4, "failed"),
    }


def ca_certs(ctx: Any, technician: str) -> list[Any]:
    from orchestrator.ledger.access import certificates

    return certificates(ctx.ledger, subject=technician, kind="user")


def test_run_refuses_a_host_presenting_another_host_key(access_settings: Settings) -> None:
    key = "/etc/ssh/ssh_host_ed25519_key"
    swap = (
        f"cp {key} /root/hk && cp {key}.pub /root/hk.pub && rm -f {key} {key}.pub && "
        f"ssh-keygen -q -t ed25519 -N '' -f {key} && systemctl restart ssh"
    )
    before = len(run_rows(access_settings, "delta"))
    lab.run_in_host(access_settings, "lab-04", ["sh", "-c", swap])
    try:
        done = cli(access_settings, "run", "delta", "--as", "mweber", "--", "hostname")
    finally:
        restore = f"cp /root/hk {key} && cp /root/hk.pub {key}.pub && systemctl restart ssh"
        lab.run_in_host(access_settings, "lab-04", ["sh", "-c", restore])
    assert done.exit_code == 125, done.output  # 255 (as ssh), capped for the shell
    assert "== lab-03 (exit 0)" in done.stdout and "== lab-04 (exit 255)" in done.stdout
    assert "host key mismatch" in done.stderr
    rows = {r.host: r for r in run_rows(access_settings, "delta")[before:]}
    assert rows["lab-04"].detail["exit_code"] == 255 and rows["lab-04"].outcome == "failed"
    assert "host key mismatch" in rows["lab-04"].detail["error"]
    again = eventually(
        lambda: cli(access_settings, "run", "delta", "--as", "mweber", "--", "true").exit_code == 0,
        20,
        every=1,
    )
    assert again, "the restored host key is accepted again"


def router_debs() -> list[Path]:
    if not all(any(ROUTER_DEBS.glob(f"{n}_*.deb")) for n in NFTABLES):
        ROUTER_DEBS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", *NFTABLES], cwd=ROUTER_DEBS, check=True)
    return sorted(ROUTER_DEBS.glob("*.deb"))


def nft_table(settings: Settings) -> str:
    return lab.run_in_host(
        settings, DELTA_ROUTER, ["nft", "list", "table", "inet", "pbxops_access"]
    )


def test_grant_configures_the_linux_edge_router_through_netmiko(
    access_settings: Settings,
) -> None:
    ssh_config = str(lab.LabPaths.of(access_settings).ssh_config)
    debs = router_debs()
    subprocess.run(
        ["scp", "-q", "-F", ssh_config, *map(str, debs), f"{DELTA_ROUTER}:/tmp/"], check=True
    )
    lab.run_in_host(
        access_settings,
        DELTA_ROUTER,
        ["sh", "-c", "dpkg -i /tmp/*.deb >/dev/null && rm /tmp/*.deb"],
    )
    with pytest.raises(LabError, match="pbxops_access"):
        nft_table(access_settings)  # nothing configured yet

    first = cli(access_settings, "access", "grant", "delta", "--configure-routers")
    assert first.exit_code == 0, first.output
    assert "edge router delta-edge (linux)" in first.stdout and "applied" in first.stdout
    table = nft_table(access_settings)
    for pbx in DELTA_HOSTS.values():
        assert f"ip saddr {pbx} ip daddr 10.209.0.1 udp dport 51820 accept" in table
        assert f"ip saddr 10.209.0.1 udp sport 51820 ip daddr {pbx} accept" in table
    rules = [ln for ln in table.splitlines() if ln.strip().startswith("ip saddr")]
    assert len(rules) == 2 * len(DELTA_HOSTS)
    rendered = (access_settings.state_dir / "access/routers/delta-edge.cfg").read_text()
    assert "nft add rule inet pbxops_access forward ip saddr 10.210.0.12" in rendered

    second = cli(access_settings, "access", "grant", "delta", "--configure-routers", "--json")
    assert second.exit_code == 0, second.output
    assert nft_table(access_settings) == table, "a second grant leaves the router as it was"
    record = open_context(access_settings).ledger.actions("delta", kind_prefix="access.grant")[-1]
    assert record.detail["routers"][0]["applied"] is True


def test_wrong_principal_and_expired_certificates_are_denied(access_settings: Settings) -> None:
    service.grant(access_settings, "bravo", "test")
    bravo_tunnel = service.status(access_settings, "bravo")[0]["tunnel_address"]
    acme_session = sessions.open_session(access_settings, "tkaya", "acme")
    denied = ssh_as(acme_session, bravo_tunnel, "true")
    assert denied.returncode == 255 and "Permission denied" in denied.stderr
    ctx = open_context(access_settings)
    past = datetime.now(UTC) - timedelta(hours=10)
    public = acme_session.credentials.key_file.with_suffix(".pub").read_text()
    cert, text = ca.sign(
        ctx.ledger,
        ctx.vault,
        CertificateRequest(
            "user", "tkaya", "acme", None, ("cust-acme",), public, past, past + timedelta(hours=1)
        ),
    )
    acme_session.credentials.cert_file.write_text(text + "\n")
    acme_tunnel = service.status(access_settings, "acme")[0]["tunnel_address"]
    expired = ssh_as(acme_session, acme_tunnel, "true")
    assert expired.returncode == 255 and "Permission denied" in expired.stderr
    with pytest.raises(RefusedError, match="expired"):
        sessions.check(ctx, cert, "acme")


def test_revoked_technician_certificate_is_refused(access_settings: Settings) -> None:
    session = sessions.open_session(access_settings, "oncall", "acme", renew=True)
    tunnel = session.targets[0][1]
    assert ssh_as(session, tunnel, "true").returncode == 0
    service.revoke(access_settings, "oncall", "test")
    refused = ssh_as(session, tunnel, "true")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    with pytest.raises(RefusedError, match="revoked"):
        sessions.run(access_settings, session, ["true"])
    barred = cli(access_settings, "run", "acme", "--as", "oncall", "--", "true")
    assert barred.exit_code == 5, "a revoked technician gets no fresh certificate either"
    assert "oncall's remote access was revoked" in barred.output
    assert cli(access_settings, "access", "reinstate", "oncall").exit_code == 0
    back = cli(access_settings, "run", "acme", "--as", "oncall", "--", "true")
    assert back.exit_code == 0, back.output


def test_rotate_replaces_keys_old_fail_new_work(access_settings: Settings) -> None:
    old_key = tunnel_key(access_settings, "acme")
    old_session = sessions.open_session(access_settings, "mweber", "acme")
    service.rotate(access_settings, "acme", "test")
    new_key = tunnel_key(access_settings, "acme")
    assert new_key and new_key != old_key
    assert old_key not in hub.peers(access_settings.vpn_hub_interface)
    tunnel = old_session.targets[0][1]
    assert ssh_as(old_session, tunnel, "true").returncode == 255
    assert eventually(lambda: handshake(access_settings, new_key), 30)
    new_session = sessions.open_session(access_settings, "mweber", "acme")
    assert new_session.certificate.serial != old_session.certificate.serial
    assert ssh_as(new_session, tunnel, "true").returncode == 0


def test_revoke_customer_stops_the_tunnel(access_settings: Settings) -> None:
    service.grant(access_settings, "bravo", "test")
    session = sessions.open_session(access_settings, "mweber", "bravo")
    tunnel = session.targets[0][1]
    assert ssh_as(session, tunnel, "true").returncode == 0
    key = tunnel_key(access_settings, "bravo")
    service.revoke(access_settings, "bravo", "test")
    assert key not in hub.peers(access_settings.vpn_hub_interface)
    assert not tcp_open(tunnel, 22), "the tunnel must carry no traffic after revoke"
    assert ssh_as(session, tunnel, "true").returncode == 255
    assert service.status(access_settings, "bravo") == []
    wg = lab.run_in_host(access_settings, "lab-02", ["sh", "-c", "ls /sys/class/net"])
    assert "wgs-bravo" not in wg


def test_unreachable_host_mid_grant_stays_inactive_until_the_next_grant(
    access_settings: Settings,
) -> None:
    lab.inject_fault(access_settings, "lab-02", "network-down")
    try:
        with pytest.raises(service.AccessHostError) as failed:
            service.grant(access_settings, "bravo", "test")
        assert [h.status for h in failed.value.result.hosts] == ["pending"]
        pending = allocations(open_context(access_settings).ledger, "bravo")
        assert all(a.public_key is None for a in pending), "no hub peer for a pending spoke"
        assert all(
            a.status == "pending"
            for a in allocations(open_context(access_settings).ledger, "bravo")
        )
    finally:
        lab.clear_fault(access_settings, "lab-02", "network-down")
    done = eventually(lambda: _grant_ok(access_settings, "bravo"), 90, every=5)
    assert done, "the next grant completes what the interrupted one left pending"


def _grant_ok(settings: Settings, cid: str) -> bool:
    try:
        return all(h.status == "active" for h in service.grant(settings, cid, "test").hosts)
    except service.AccessHostError:
        return False


def _secrets_of(settings: Settings) -> dict[str, str]:
    ctx = open_context(settings)
    found = {"vault key": settings.secret_key_file.read_text().strip()}
    for name in ("hub_wg", "user_ca", "host_ca"):
        from orchestrator.ledger.access import stored_key

        stored = stored_key(ctx.ledger, name)
        assert stored is not None
        plain = ctx.vault.decrypt(stored.token).reveal()
        found[name] = _unique_chunk(plain)
    found["spoke key"] = lab.run_in_host(
        settings, "lab-01", ["cat", "/etc/wireguard/wgs-acme.key"]
    ).strip()
    return found


def _body(key_text: str) -> str:
    return "".join(ln for ln in key_text.splitlines() if ln and "PRIVATE KEY" not in ln)


def _unique_chunk(key_text: str) -> str:
    """A 40-character piece of a key's text that another key of the same type does not
    share (OpenSSH key files start with the same header)."""
    body = _body(key_text)
    if len(body) <= 60:
        return body  # a WireGuard key: the whole base64 string is secret
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp}/k"], check=True
        )
        other = _body(Path(f"{tmp}/k").read_text())
    chunks = [body[i : i + 40] for i in range(0, len(body) - 40, 20)]
    return next(c for c in chunks[5:] if c not in other)


def _hits(marker: str, roots: list[Path]) -> list[str]:
    hits = []
    needle = marker.encode()
    for root in roots:
        for path in root.rglob("*"):
            readable = path.is_file() and not path.is_symlink()
            if readable and path.stat().st_size < 50_000_000 and needle in path.read_bytes():
                hits.append(str(path))
    return hits


def test_no_secret_lands_in_repo_logs_artifacts_or_ledger(access_settings: Settings) -> None:
    service.grant(access_settings, "acme", "test")  # success
    lab.inject_fault(access_settings, "lab-02", "network-down")
    try:  # failure
        with pytest.raises(service.AccessHostError):
            service.grant(access_settings, "bravo", "test")
    finally:
        lab.clear_fault(access_settings, "lab-02", "network-down")
    killed = subprocess.Popen(  # a run killed half-way
        [
            sys.executable,
            "-c",
            "from orchestrator.cli import main; main()",
            "access",
            "grant",
            "bravo",
        ],
        env={**__import__("os").environ, **_env_of(access_settings)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    __import__("time").sleep(4)
    killed.kill()
    killed.wait()
    _orphans_end(access_settings)  # its ansible-playbook, left in its own session
    secrets = _secrets_of(access_settings)
    roots = [Path(__file__).resolve().parents[2], access_settings.state_dir]
    for what, marker in secrets.items():
        assert len(marker) >= 40, what
        assert _hits(marker, roots) == [], f"{what} found in plaintext"


def _orphans_end(settings: Settings) -> None:
    """The ansible-playbook a killed pbxops left running (in its own session) goes on to its
    end by itself (orchestrator/shim/ansible-playbook); stopped by pid if it does not."""
    ended = eventually(lambda: not executor.orphaned_runs(settings, "access-"), 180, 0.5)
    for pid in executor.orphaned_runs(settings, "access-"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    assert ended, "the killed run's ansible-playbook did not end by itself"


def _env_of(settings: Settings) -> dict[str, str]:
    return {
        "PBXOPS_BOOK": str(settings.book),
        "PBXOPS_STATE_DIR": str(settings.state_dir),
        "PBXOPS_SECRET_KEY_FILE": str(settings.secret_key_file),
        "PBXOPS_SSH_CONFIG": str(settings.ssh_config),
        "PBXOPS_VPN_DEBS_DIR": str(settings.vpn_debs_dir),
        "PBXOPS_LAB_RUN_DIR": str(settings.lab_run_dir),
    }


def _pool_route() -> str:
    return subprocess.run(["ip", "-o", "route", "show", "10.250.0.0/16"], capture_output=True,
                          text=True, check=True).stdout.strip()


def _hub_json(settings: Settings) -> dict[str, Any]:
    out = cli(settings, "access", "hub", "status", "--json")
    assert out.exit_code == 0, out.output
    return dict(json.loads(out.output))


@pytest.mark.skipif(os.environ.get("PBXOPS_STRATEGY") == "linear",
                    reason="the hub's lifecycle does not depend on the Ansible strategy: "
                           "run once, under the default")
def test_the_hub_stops_with_the_last_revoke_hub_down_and_lab_down(
    access_settings: Settings, lab_settings: Settings
) -> None:
    """Issue 16: wireguard-go, its interface and the pool's route survived the last revoke
    and `lab down`, and no command stopped them. Runs last: it takes the lab down."""
    s, ifname = access_settings, access_settings.vpn_hub_interface
    for cid in ("acme", "bravo", "delta"):
        if service.status(s, cid):
            assert cli(s, "access", "revoke", cid).exit_code == 0
    assert not hub.running(ifname) and hub.hub_pid(ifname) is None and _pool_route() == ""
    assert _hub_json(s)["running"] is False

    service.grant(s, "acme", "test")
    st = _hub_json(s)
    pid = st["pid"]
    assert st["running"] and isinstance(pid, int) and Path(f"/proc/{pid}").exists()
    assert st["interface"] == ifname and st["peers"] == 1
    assert st["routes"] == ["10.250.0.0/16"] and st["addresses"] == ["10.250.0.1/16"]
    down = cli(s, "access", "hub", "down")
    assert down.exit_code == 0 and f"stopped (pid {pid})" in down.output, down.output
    assert not Path(f"/proc/{pid}").exists() or "wireguard-go" not in Path(
        f"/proc/{pid}/cmdline").read_text()
    assert not hub.running(ifname) and _pool_route() == ""
    assert "was not running" in cli(s, "access", "hub", "down").output

    service.grant(s, "acme", "test")  # the next grant brings the hub back with its peers
    assert hub.hub_pid(ifname) is not None
    assert eventually(lambda: handshake(s, tunnel_key(s, "acme")), 30)
    lab.down(lab_settings)
    assert not hub.running(ifname) and hub.hub_pid(ifname) is None and _pool_route() == ""
