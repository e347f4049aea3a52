"""The provider-side WireGuard hub: one userspace (wireguard-go) interface, its peers
synchronised from the ledger.

The hub's private key is kept in the ledger only as a Fernet token; it reaches ``wg`` via
a pipe (``wg syncconf IF /dev/stdin``), never a file. Peers are the *active* allocations:
a spoke whose grant did not finish is not a peer, so a half-done grant carries no traffic.
Each peer's AllowedIPs are its tunnel address and the PBX addresses of its site, nothing
wider. The hub interface carries the pool's first address with the pool's prefix, so this
machine routes the pool (and only the pool) into the tunnel.

Lifecycle: ``start`` runs wireguard-go in the foreground of its own session and records its
pid in ``RUN_DIR/<interface>.pid``; ``stop`` ends exactly that process by pid (never by
name; a hub started before pid files is found as the owner of its UAPI socket), and the
interface and the pool's route go with it. ``status`` says what runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from ipaddress import IPv4Network
from pathlib import Path

from ..errors import ConfigError, HostError
from ..ledger import Ledger
from ..ledger.access import StoredKey, store_key, stored_key
from ..secrets import Redacted, Vault
from .pool import hub_address

HUB_KEY = "hub_wg"
RUN_DIR = Path("/run/pbxops-hub")  # <interface>.pid of each hub this machine runs
UAPI_DIR = Path("/var/run/wireguard")  # wireguard-go's control socket <interface>.sock


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


def pid_file(ifname: str) -> Path:
    return RUN_DIR / f"{ifname}.pid"


def start(ifname: str, pool: IPv4Network, log: Path) -> None:
    """Create the hub interface (wireguard-go) with the pool's first address; idempotent."""
    _need("wireguard-go", "wireguard-go (bookworm-backports)")
    if not running(ifname):
        log.parent.mkdir(parents=True, exist_ok=True)
        RUN_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                ["wireguard-go", "--foreground", ifname],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # outlives pbxops; stopped by `access hub down`
            )
        pid_file(ifname).write_text(f"{proc.pid}\n")
        proc.returncode = 0  # left running on purpose: no ResourceWarning when collected
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


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _is_hub(pid: int, ifname: str) -> bool:
    argv = _cmdline(pid)
    return bool(argv) and Path(argv[0]).name == "wireguard-go" and argv[-1] == ifname


def _socket_owner(ifname: str) -> int | None:
    """The process holding wireguard-go's UAPI socket of ``ifname`` (hubs started without a
    pid file): the socket's inode from /proc/net/unix, then the process with it open."""
    path = str(UAPI_DIR / f"{ifname}.sock")
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return None
    inodes = {f"socket:[{f[6]}]" for f in (ln.split() for ln in lines) if len(f) >= 8
              and f[7] == path}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or not _is_hub(int(proc.name), ifname):
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def hub_pid(ifname: str) -> int | None:
    """The pid of the wireguard-go serving ``ifname``: its pid file (checked against the
    process's command line), else the owner of its UAPI socket; None when none runs."""
    try:
        pid = int(pid_file(ifname).read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and _is_hub(pid, ifname):
        return pid
    return _socket_owner(ifname)


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    """True while ``pid`` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, sig: signal.Signals, ifname: str) -> bool:
    """Send ``sig``; False when the process is gone already, HostError when refused."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except OSError as exc:
        raise HostError(
            f"hub {ifname}: cannot send {sig.name} to wireguard-go (pid {pid}): "
            f"{exc.strerror or exc}"
        ) from None
    return True


def stop(ifname: str) -> int | None:
    """Stop the hub of ``ifname``: its wireguard-go by pid (SIGTERM, SIGKILL after 10 s);
    the interface and its pool route go with the process. Returns the pid stopped (None:
    none ran). An interface left without its process is deleted."""
    pid = hub_pid(ifname)
    if pid is not None:
        if not _signal(pid, signal.SIGTERM, ifname):
            pid = None  # it ended between finding and stopping it
        elif not _gone(pid, 10.0):
            _signal(pid, signal.SIGKILL, ifname)
            _gone(pid, 5.0)
    try:
        pid_file(ifname).unlink(missing_ok=True)
    except OSError as exc:
        raise HostError(f"hub {ifname}: cannot remove {pid_file(ifname)}: {exc.strerror or exc}") from None
    if running(ifname):
        _run(["ip", "link", "del", ifname], check=False)
    deadline = time.monotonic() + 5.0
    while running(ifname) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(ifname):
        raise HostError(f"hub interface {ifname} is still there after stopping its process")
    return pid


@dataclass(frozen=True)
class HubStatus:
    interface: str
    running: bool
    pid: int | None
    addresses: tuple[str, ...]
    routes: tuple[str, ...]
    peers: int
    listen_port: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def status(ifname: str) -> HubStatus:
    """What runs for the hub of ``ifname``: process, interface addresses, routes, peers."""
    up = running(ifname)
    addresses: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    port = None
    if up:
        addr = _run(["ip", "-o", "-4", "addr", "show", "dev", ifname], check=False)
        addresses = tuple(f.split()[3] for f in addr.splitlines() if len(f.split()) > 3)
        route = _run(["ip", "-o", "-4", "route", "show", "dev", ifname], check=False)
        routes = tuple(line.split()[0] for line in route.splitlines() if line.strip())
        listen = _run(["wg", "show", ifname, "listen-port"], check=False).strip()
        port = int(listen) if listen.isdigit() else None
    return HubStatus(ifname, up, hub_pid(ifname), addresses, routes, len(peers(ifname)), port)


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
