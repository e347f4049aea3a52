"""The provider-side WireGuard hub: one userspace (wireguard-go) interface, its peers
synchronised from the ledger.

The hub's private key is kept in the ledger only as a Fernet token; it reaches ``wg`` via
a pipe (``wg syncconf IF /dev/stdin``), never a file. Peers are the *active* allocations:
a spoke whose grant did not finish is not a peer, so a half-done grant carries no traffic.
Each peer's AllowedIPs are its tunnel address and the PBX addresses of its site, nothing
wider. The hub interface carries the pool's first address with the pool's prefix, so this
machine routes the pool (and only the pool) into the tunnel.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from ..errors import ConfigError, HostError
from ..ledger import Ledger
from ..ledger.access import StoredKey, store_key, stored_key
from ..secrets import Redacted, Vault
from .pool import hub_address

HUB_KEY = "hub_wg"


@dataclass(frozen=True)
class Peer:
    public_key: str
    allowed_ips: tuple[str, ...]


@dataclass(frozen=True)
class PeerState:
    public_key: str
    endpoint: str | None
    latest_handshake: int  # unix time, 0 = never
    rx: int
    tx: int


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise ConfigError(f"{tool} not found: install the Debian package {package}")


def _run(argv: list[str], input_text: str | None = None, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, input=input_text, check=False)
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise HostError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: {last}")
    return done.stdout


def keypair() -> tuple[Redacted, str]:
    """A new WireGuard key pair (private, public) made by ``wg``."""
    _need("wg", "wireguard-tools")
    private = Redacted(_run(["wg", "genkey"]).strip())
    public = _run(["wg", "pubkey"], input_text=private.reveal() + "\n").strip()
    return private, public


def ensure_key(ledger: Ledger, vault: Vault) -> StoredKey:
    """The hub's key pair (made on first use; the first one stored wins)."""
    stored = stored_key(ledger, HUB_KEY)
    if stored is not None:
        return stored
    private, public = keypair()
    return store_key(ledger, StoredKey(HUB_KEY, public, vault.encrypt(private.reveal())))


def _private(vault: Vault, stored: StoredKey) -> Redacted:
    try:
        return vault.decrypt(stored.token)
    except ConfigError as exc:
        raise ConfigError(
            "cannot decrypt the WireGuard hub key: wrong secret key "
            "(PBXOPS_SECRET_KEY or secret_key_file)?"
        ) from exc


def running(ifname: str) -> bool:
    return Path("/sys/class/net", ifname).exists()


def start(ifname: str, pool: IPv4Network, log: Path) -> None:
    """Create the hub interface (wireguard-go) with the pool's first address; idempotent."""
    _need("wireguard-go", "wireguard-go (bookworm-backports)")
    if not running(ifname):
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            subprocess.run(
                ["wireguard-go", ifname],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                check=False,
                start_new_session=True,
            )
        _wait_for_link(ifname)
    _run(["ip", "addr", "replace", f"{hub_address(pool)}/{pool.prefixlen}", "dev", ifname])
    _run(["ip", "link", "set", ifname, "up"])


def _wait_for_link(ifname: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not running(ifname):
        if time.monotonic() > deadline:
            raise HostError(f"wireguard-go did not create {ifname} (see the hub log)")
        time.sleep(0.05)


def config_text(private: Redacted, listen_port: int, peers: list[Peer]) -> Redacted:
    lines = ["[Interface]", f"PrivateKey = {private.reveal()}", f"ListenPort = {listen_port}"]
    for p in sorted(peers, key=lambda p: p.public_key):
        lines += ["", "[Peer]", f"PublicKey = {p.public_key}"]
        lines.append(f"AllowedIPs = {', '.join(p.allowed_ips)}")
    return Redacted("\n".join(lines) + "\n")


def sync(ifname: str, vault: Vault, key: StoredKey, listen_port: int, peers: list[Peer]) -> None:
    """Make the hub's peers exactly ``peers`` (``wg syncconf``: unchanged peers keep
    their sessions)."""
    text = config_text(_private(vault, key), listen_port, peers)
    _run(["wg", "syncconf", ifname, "/dev/stdin"], input_text=text.reveal())


def stop(ifname: str) -> None:
    """Remove the hub interface (wireguard-go exits with it)."""
    if running(ifname):
        _run(["ip", "link", "del", ifname], check=False)


def peers(ifname: str) -> dict[str, PeerState]:
    """The hub's live view: endpoint, latest handshake and traffic per peer public key."""
    if not running(ifname):
        return {}
    out = _run(["wg", "show", ifname, "dump"], check=False)
    states = {}
    for line in out.splitlines()[1:]:
        f = line.split("\t")
        if len(f) >= 7:
            endpoint = None if f[2] == "(none)" else f[2]
            states[f[0]] = PeerState(f[0], endpoint, int(f[4]), int(f[5]), int(f[6]))
    return states
