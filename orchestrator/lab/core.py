"""``up`` and ``down``: the whole lab's lifecycle, recorded in the state file."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..access import hub as access_hub
from ..errors import HostError, LabError
from ..settings import Settings
from ..sipprobe import probe
from . import aptproxy, asterisk, hosts, network, procs, repo, rt
from .image import ensure_layer
from .paths import LabPaths
from .rootfs import Report, ensure_rootfs
from .sh import need, run
from .specs import PROVIDER_INTERFACE, HostSpec, validate
from .state import BRIDGE, HostState, LabState, load, save

T = TypeVar("T")
READY_TIMEOUT = 180.0
_WORKERS = 16


def _quiet(_: str) -> None:
    return None


def host_states(specs: list[HostSpec]) -> tuple[HostState, ...]:
    return tuple(
        HostState(
            name=s.name,
            machine=s.machine,
            address=str(s.address),
            subnet=str(s.subnet),
            gateway=str(s.gateway),
            netns=f"pbxlab-{s.machine}",
            veth=f"pbxl-{i}",
            binds=s.binds,
            image=s.image,
            debian=s.debian,
        )
        for i, s in enumerate(specs, start=1)
    )


def _parallel(func: Callable[[HostState], T], items: Iterable[HostState]) -> list[T]:
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        return list(pool.map(func, items))


def _preflight() -> None:
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("ip", "iproute2"),
        ("nsenter", "util-linux"),
        ("ssh", "openssh-client"),
    ):
        need(tool, package)


def up(settings: Settings, specs: list[HostSpec], report: Report = _quiet) -> LabState:
    """Bring the lab up (idempotent: hosts already running are left alone)."""
    _preflight()
    paths = LabPaths.of(settings)
    wanted = host_states(validate(specs))
    state = _reconcile(paths, wanted)
    paths.run.mkdir(parents=True, exist_ok=True)
    rootfs = ensure_rootfs(paths.cache, report)
    asterisk_image, extra = _asterisk(paths, wanted, report)
    report("building the lab apt repository")
    debs = repo.build_repository(paths, extra=extra)
    layer = ensure_layer(paths.cache, rootfs, [d for n, d in sorted(debs.items()) if _baseline(n)])
    state = state.model_copy(
        update={"rootfs": str(rootfs), "layer": str(layer), "asterisk_rootfs": asterisk_image}
    )
    state = _raise_limits(paths, state)
    state = _network(paths, state)
    state = _repo_server(paths, state)
    state = _apt_proxy(paths, state)
    report(f"starting {len(wanted)} hosts")
    lowers = {"bookworm": [layer, rootfs], "asterisk": [Path(asterisk_image)]}
    _start_hosts(paths, state, lowers)
    report("waiting for ssh and SIP on every host")
    wait_ready(paths, state)
    return state


def _asterisk(
    paths: LabPaths, wanted: tuple[HostState, ...], report: Report
) -> tuple[str, dict[str, list[Path]]]:
    """The Asterisk image and the repository's Asterisk packages, when a host needs them
    (the image starts with the sid build installed: no baseline layer)."""
    if not any(h.image == asterisk.IMAGE for h in wanted):
        return "", {}
    image = asterisk.ensure_image(paths.cache, report)
    return str(image), {asterisk.Repack.load().suite: asterisk.ensure_debs(paths.cache, report)}


def _baseline(filename: str) -> bool:
    return any(r.filename == filename and r.baseline for r in repo.releases())


def _reconcile(paths: LabPaths, wanted: tuple[HostState, ...]) -> LabState:
    current = load(paths.state_file)
    if current is None:
        state = LabState(hosts=wanted)
        save(paths.state_file, state)
        return state
    if current.hosts != wanted:
        raise LabError("a lab with other hosts is up; run `pbxops lab down` first")
    return current


def _network(paths: LabPaths, state: LabState) -> LabState:
    addresses = [str(PROVIDER_INTERFACE)]
    for host in state.hosts:
        gw = f"{host.gateway}/{host.subnet.split('/')[1]}"
        if gw not in addresses:
            addresses.append(gw)
    created = state.bridge_created or not network.link_exists(BRIDGE)
    state = state.model_copy(
        update={"bridge_created": created, "bridge_addresses": tuple(addresses)}
    )
    save(paths.state_file, state)
    network.create_bridge(BRIDGE)
    for address in addresses:
        network.add_address(BRIDGE, address)
    return state


INOTIFY_PER_HOST = 10
_INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")


def _raise_limits(paths: LabPaths, state: LabState) -> LabState:
    """Each host's systemd uses several inotify instances; the default limit (128) stops
    boots at about 25 hosts. Raise it for the lab; ``down`` restores the original."""
    current = int(_INOTIFY.read_text())
    needed = 128 + INOTIFY_PER_HOST * len(state.hosts)
    if current >= needed:
        return state
    original = state.sysctls.get(str(_INOTIFY), str(current))
    state = state.model_copy(update={"sysctls": {**state.sysctls, str(_INOTIFY): original}})
    save(paths.state_file, state)
    _INOTIFY.write_text(str(needed))
    return state


def _restore_limits(state: LabState) -> None:
    for name, value in state.sysctls.items():
        Path(name).write_text(value)


def _repo_server(paths: LabPaths, state: LabState) -> LabState:
    if procs.alive(state.repo_pid, str(paths.repo)):
        return state
    state = state.model_copy(update={"repo_pid": repo.start_server(paths)})
    save(paths.state_file, state)
    return state


def _apt_proxy(paths: LabPaths, state: LabState) -> LabState:
    if procs.alive(state.proxy_pid, aptproxy.marker(paths)):
        return state
    state = state.model_copy(update={"proxy_pid": aptproxy.start(paths)})
    save(paths.state_file, state)
    return state


def _ops_key(paths: LabPaths) -> bytes:
    """The ops user's public key; the key pair is made once per lab under ``run/ssh``."""
    public = paths.ssh_key.with_suffix(".pub")
    if not public.is_file():
        paths.ssh_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private, line = hosts.keypair("pbxops@lab")
        paths.ssh_key.touch(mode=0o600)
        paths.ssh_key.write_bytes(private)
        public.write_bytes(line)
    return public.read_bytes()


def _start_hosts(paths: LabPaths, state: LabState, lowers: dict[str, list[Path]]) -> None:
    ops_public, repo_key = _ops_key(paths), paths.repo_key.read_bytes()

    def start_one(host: HostState) -> tuple[HostState, bytes | None]:
        if hosts.running(paths, host):
            return host, None
        hosts.stop(paths, host)
        hosts.unmount_root(paths, host)
        network.create_host_network(host, state.bridge)
        root = hosts.mount_root(paths, host, lowers[host.image])
        public = hosts.write_identity(root, host, ops_public, repo_key)
        hosts.start(paths, host)
        return host, public

    started = _parallel(start_one, state.hosts)
    _write_ssh_files(paths, state, {h.machine: key for h, key in started if key})


def _write_ssh_files(paths: LabPaths, state: LabState, new_keys: dict[str, bytes]) -> None:
    known = _known_keys(paths)
    for host in state.hosts:
        if host.machine in new_keys:
            names = ",".join(dict.fromkeys([host.name, host.machine, host.address]))
            known[host.machine] = f"{names} " + " ".join(
                new_keys[host.machine].decode().split()[:2]
            )
    paths.known_hosts.write_text(
        "".join(f"{known[h.machine]}\n" for h in state.hosts if h.machine in known)
    )
    blocks = [
        f"Host {' '.join(dict.fromkeys([h.name, h.machine]))}\n    HostName {h.address}\n"
        for h in state.hosts
    ]
    paths.ssh_config.write_text(
        "# Written by `pbxops lab up`: ssh -F this-file HOST\n"
        + "".join(blocks)
        + "Host *\n    User pbxops\n"
        + f"    IdentityFile {paths.ssh_key}\n    IdentitiesOnly yes\n"
        + f"    UserKnownHostsFile {paths.known_hosts}\n    GlobalKnownHostsFile /dev/null\n"
        + "    StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 5\n"
    )


def _known_keys(paths: LabPaths) -> dict[str, str]:
    if not paths.known_hosts.is_file():
        return {}
    lines = paths.known_hosts.read_text().splitlines()
    return {line.split()[0].split(",")[-2]: line for line in lines if "," in line.split()[0]}


def ssh_ready(address: str, timeout: float = 1.0) -> bool:
    """True when sshd on ``address`` sends its banner."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_ready(paths: LabPaths, state: LabState, timeout: float = READY_TIMEOUT) -> None:
    """Wait until every host answers ssh and SIP; LabError names the ones that did not."""
    deadline = time.monotonic() + timeout
    pending = list(state.hosts)
    while pending and time.monotonic() < deadline:
        results = _parallel(lambda h: _is_ready(paths, h), pending)
        pending = [h for h, ok in zip(pending, results, strict=True) if not ok]
        if pending:
            time.sleep(0.5)
    if pending:
        names = ", ".join(h.name for h in pending)
        raise LabError(
            f"not ready after {timeout:g}s: {names} (see {paths.run}/hosts/*/console.log)"
        )


def _is_ready(paths: LabPaths, host: HostState) -> bool:
    """sshd lets the ops user in (boot finished) and the SIP service answers."""
    if not ssh_ready(host.address):
        return False
    login = run(ssh_argv(paths, host.machine, ["true"]), check=False, timeout=15)
    return login.returncode == 0 and probe(host.address, timeout=0.5).status is not None


def ssh_argv(paths: LabPaths, host: str, command: list[str]) -> list[str]:
    """``ssh -F <lab ssh_config> HOST [COMMAND]`` with the lab's known_hosts and key."""
    return ["ssh", "-F", str(paths.ssh_config), host, *command]


def down(settings: Settings) -> int:
    """Remove everything the recorded lab created; returns the number of hosts removed."""
    paths = LabPaths.of(settings)
    rt.down(settings)  # the lab's RT (`lab rt up`), by its pid; also when no hosts are up
    state = load(paths.state_file)
    if state is None:
        return 0
    try:  # the lab's VPN hub, by pid, with its route; a failure does not stop the teardown
        access_hub.stop(settings.vpn_hub_interface)
        hub_error = None
    except HostError as exc:
        hub_error = str(exc)

    def remove(host: HostState) -> None:
        hosts.stop(paths, host)
        hosts.unmount_root(paths, host)
        network.delete_host_network(host)
        shutil.rmtree(paths.host_dir(host.machine), ignore_errors=True)

    _parallel(remove, state.hosts)
    procs.stop(state.repo_pid, str(paths.repo))
    procs.stop(state.proxy_pid, aptproxy.marker(paths))
    _remove_bridge(state)
    _restore_limits(state)
    repo.stop_gpg_agent(paths)
    _remove_files(paths)
    if hub_error is not None:
        raise LabError(
            f"lab down: {len(state.hosts)} hosts removed, but the VPN hub was not stopped: "
            f"{hub_error} (then `pbxops access hub down`)"
        )
    return len(state.hosts)


def _remove_bridge(state: LabState) -> None:
    if state.bridge_created:
        network.delete_bridge(state.bridge)
        return
    for address in state.bridge_addresses:
        network.delete_address(state.bridge, address)


def _remove_files(paths: LabPaths) -> None:
    for name in ("hosts", "repo", "repo.new", "ssh", "gnupg", "apt-cacher-ng"):
        shutil.rmtree(paths.run / name, ignore_errors=True)
    for name in ("ssh_config", "repo-key.gpg", "repo-http.log", "state.tmp"):
        (paths.run / name).unlink(missing_ok=True)
    paths.state_file.unlink(missing_ok=True)
    if paths.run.is_dir() and not any(paths.run.iterdir()):
        paths.run.rmdir()
