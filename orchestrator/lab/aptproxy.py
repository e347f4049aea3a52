"""The lab's Debian archive proxy: apt-cacher-ng on the provider side of the bridge.

Lab hosts reach nothing but the provider address. Hosts that take real Debian upgrades
(``HostSpec.debian``) get a sources file pointing at this proxy (``/debian`` and
``/debian-security`` on the bridge address), and the proxy fetches from the mirrors this
machine itself uses (the ``URIs:`` lines of its deb822 sources; no host name is built in).

- one instance per lab, started at ``up`` and stopped at ``down`` by its pid (recorded in
  the state file; the pid is checked against its command line before any signal);
- it listens on the bridge address only, and only for the two remapped archives
  (``ForceManaged``): hosts cannot use it as a general web proxy;
- its cache is under the lab cache dir (``cache/apt-cacher-ng``), so downloaded packages
  and indexes survive ``lab down`` and later runs; only the first run pays the download.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import LabError
from .paths import LabPaths
from .rootfs import SOURCES_FILE
from .sh import need
from .specs import PROVIDER_INTERFACE

PROXY_PORT = 3143  # not 3142: a system-wide apt-cacher-ng (listening everywhere) may run
PROXY_URL = f"http://{PROVIDER_INTERFACE.ip}:{PROXY_PORT}"
_START_TIMEOUT = 10.0


def mirrors(sources: Path = SOURCES_FILE) -> tuple[str, str]:
    """(archive, security archive) from this machine's deb822 sources.

    The security archive is the ``URIs:`` ending in ``debian-security``; without one, the
    archive's host serves it (``<scheme>://<host>/debian-security``, as deb.debian.org and
    Debian's mirrors do)."""
    try:
        text = sources.read_text()
    except OSError as exc:
        raise LabError(f"no Debian mirror configured: cannot read {sources}") from exc
    uris = [
        value.split()[0]
        for name, _, value in (line.strip().partition(":") for line in text.splitlines())
        if name == "URIs" and value.strip()
    ]
    security = [u for u in uris if u.rstrip("/").endswith("debian-security")]
    archive = [u for u in uris if u not in security]
    if not archive:
        raise LabError(f"no Debian mirror configured: no URIs: line in {sources}")
    if security:
        return archive[0].rstrip("/"), security[0].rstrip("/")
    parts = urlsplit(archive[0])
    return archive[0].rstrip("/"), f"{parts.scheme}://{parts.netloc}/debian-security"


def config_dir(paths: LabPaths) -> Path:
    return paths.run / "apt-cacher-ng"


def cache_dir(paths: LabPaths) -> Path:
    return paths.cache / "apt-cacher-ng"


def write_config(paths: LabPaths, sources: Path = SOURCES_FILE) -> Path:
    archive, security = mirrors(sources)
    conf = config_dir(paths)
    conf.mkdir(parents=True, exist_ok=True)
    cache_dir(paths).mkdir(parents=True, exist_ok=True)
    (conf / "acng.conf").write_text(
        "# Written by `pbxops lab up`: the lab's Debian proxy (orchestrator/lab/aptproxy.py)\n"
        f"CacheDir: {cache_dir(paths)}\n"
        f"LogDir: {conf}\n"
        "SupportDir: /usr/lib/apt-cacher-ng\n"
        f"BindAddress: {PROVIDER_INTERFACE.ip}\n"
        f"Port: {PROXY_PORT}\n"
        f"Remap-debrep: /debian ; {archive}\n"
        f"Remap-secdeb: /debian-security ; {security}\n"
        "ForceManaged: 1\n"
        "PassThroughPattern: ^$\n"
        "ExThreshold: 4\n"
        "ForeGround: 1\n"
        "ReportPage: acng-report.html\n"
    )
    return conf


def start(paths: LabPaths) -> int:
    """Start the proxy on the bridge address; returns its pid once it accepts connections."""
    binary = need("apt-cacher-ng", "apt-cacher-ng")
    try:
        conf = write_config(paths)
        with (conf / "console.log").open("ab") as log:
            proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise LabError(f"apt-cacher-ng not started: {exc.strerror or exc}{where}") from None
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(
                f"apt-cacher-ng exited with status {proc.returncode} (see {conf}/console.log)"
            )
        try:
            with socket.create_connection((str(PROVIDER_INTERFACE.ip), PROXY_PORT), 0.5):
                return proc.pid
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # deaf to SIGTERM: killed by its pid, reaped
        proc.kill()
        proc.wait(timeout=5)
    raise LabError(f"apt-cacher-ng not listening on {PROXY_URL} after {_START_TIMEOUT:g}s")


def marker(paths: LabPaths) -> str:
    """What only our proxy has on its command line (guards pid reuse)."""
    return str(config_dir(paths))


def debian_sources(suite: str) -> str:
    """The deb822 sources of a host that takes real Debian packages: ``suite`` and its
    ``-updates`` from the archive, ``-security`` from the security archive, via the proxy.
    Signed by Debian's archive keys (debian-archive-keyring is in every image)."""
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    return (
        f"Types: deb\nURIs: {PROXY_URL}/debian\nSuites: {suite} {suite}-updates\n"
        f"Components: main\nSigned-By: {keyring}\n\n"
        f"Types: deb\nURIs: {PROXY_URL}/debian-security\nSuites: {suite}-security\n"
        f"Components: main\nSigned-By: {keyring}\n"
    )
