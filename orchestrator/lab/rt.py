"""Request Tracker 5 for the lab and the tests: Debian's request-tracker5 + rt5-db-sqlite,
run from a directory of its own (never /etc/request-tracker5).

Two layers:

- **A server in a directory** (``init_database``, ``start_server``, ``wait_ready``,
  ``stop_server``), shared by the test fixture (``tests/rtserver.py``) and the lab:
  ``RT_SITE_CONFIG``/``RT_SITE_CONFIG_DIR`` point RT at that directory's config, its
  SQLite database lives there, RT's standalone server (Starlet) is started in a session of
  its own and stopped by that pid's process group. Passwords of the users made at init reach
  ``rt-setup-database-5`` in its environment (readable by its owner only), never on a
  command line or in a file.
- **The lab's RT** (``up``, ``status``, ``down``, ``secret``: ``pbxops lab rt ...``), for
  ``make demo``: one instance per lab run dir, data in ``<lab run dir>/rt`` (0700), on the
  lab's provider address (``PROVIDER_INTERFACE``, where the lab hosts reach the provider)
  when a lab is up, else on loopback, port ``RT_PORT``. One API user ``pbxops``
  (SuperUser) with a generated password, stored encrypted with pbxops' secret key
  (``rt/secret``, 0600; as ``pbxops tickets login`` stores it); RT's own ``root`` account
  (password "password" after init) is disabled. The pid is recorded in ``rt/state.json``
  and checked against its command line and working directory before any signal;
  ``pbxops lab down`` stops it too.

Outgoing mail of RT itself is not sent (``$MailCommand = 'testfile'``): pbxops mails
customers itself. This module never imports the ticket adapter: it only starts RT.
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..fsutil import atomic_write, private_dir
from ..secrets import Redacted, Vault
from ..settings import REPO_ROOT, Settings
from . import procs
from .paths import LabPaths
from .specs import PROVIDER_INTERFACE
from .state import load as load_lab_state

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_SETUP = Path("/usr/sbin/rt-setup-database-5")
RT_MAILGATE = Path("/usr/bin/rt-mailgate")
INITIALDATA = REPO_ROOT / "scripts" / "rt" / "pbxops-initialdata"

RT_PORT = 8480
"""The lab RT's port (not 8080: the lab's apt repository serves there)."""
API_USER = "pbxops"
_READY_TIMEOUT = 120.0


# -- a server in a directory (tests and lab) ------------------------------------------------


def available() -> str | None:
    """None when RT can run here, else why not (what to install)."""
    for path in (RT_SERVER, RT_SETUP, RT_MAILGATE):
        if not path.exists():
            return (
                f"{path} missing (apt-get install request-tracker5 rt5-db-sqlite "
                "rt5-standalone, or run `make setup`)"
            )
    return None


def base_url(host: str, port: int) -> str:
    return f"http://{host}:{port}/"


def site_config(data: Path, host: str, port: int) -> str:
    """RT_SiteConfig.pm of an RT whose database and logs live in ``data``."""
    return f"""# Written by pbxops (orchestrator/lab/rt.py): an RT of its own in this directory
Set($rtname, 'pbxops');
Set($Organization, 'pbxops.test');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{data}/rt5.db');
Set($WebDomain, '{host}');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://{host}:{port}');
Set($CorrespondAddress, 'support@provider.example');
Set($CommentAddress, 'support-comment@provider.example');
Set($LogToSyslog, undef);
Set($LogToSTDERR, 'error');
Set($MailCommand, 'testfile');
Set($Timezone, 'UTC');
Set($RestrictReferrer, 0);
1;
"""


def _password_var(user: str) -> str:
    return f"PBXOPS_RT_PASSWORD_{user.upper()}"


def users_initialdata(users: Mapping[str, str], disable_root: bool) -> str:
    """Initial data making each user (privileged, SuperUser); the password is read from the
    environment of rt-setup-database (``_password_var``), so none is written here."""
    for name in users:
        if not name.isalnum() or not name.islower():
            raise LabError(f"RT user name {name!r}: lower-case letters and digits only")
    made = "\n".join(
        f"    {{ Name => '{n}', EmailAddress => '{n}@provider.example', "
        f"Password => $ENV{{{_password_var(n)}}}, Privileged => 1 }},"
        for n in users
    )
    rights = "\n".join(f"    {{ UserId => '{n}', Right => 'SuperUser' }}," for n in users)
    final = (
        "@Final = (sub {\n"
        "    my $root = RT::User->new(RT->SystemUser);\n"
        "    $root->Load('root');\n"
        "    my ($ok, $msg) = $root->SetDisabled(1);\n"
        '    die "cannot disable root: $msg" unless $ok;\n'
        "});\n"
        if disable_root
        else ""
    )
    return f"@Users = (\n{made}\n);\n@ACL = (\n{rights}\n);\n{final}1;\n"


def env(data: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that points RT's tools at ``data``'s config."""
    return {
        **os.environ,
        "RT_SITE_CONFIG": str(data / "RT_SiteConfig.pm"),
        "RT_SITE_CONFIG_DIR": str(data / "RT_SiteConfig.d"),
        **(extra or {}),
    }


def _setup(data: Path, args: list[str], extra: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(
        [str(RT_SETUP), *args],
        env=env(data, extra),
        capture_output=True,
        cwd=data,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip()[-1500:]
        raise LabError(f"rt-setup-database-5 {' '.join(args[:2])} failed: {tail}")


def init_database(
    data: Path,
    host: str,
    port: int,
    users: Mapping[str, str],
    disable_root: bool = False,
) -> None:
    """Write the config into ``data`` and make the database: RT's initial data, pbxops's
    (``scripts/rt/pbxops-initialdata``) and ``users`` (name -> password, SuperUser)."""
    (data / "RT_SiteConfig.d").mkdir(exist_ok=True)
    (data / "RT_SiteConfig.pm").write_text(site_config(data, host, port))
    (data / "users").write_text(users_initialdata(users, disable_root))
    _setup(data, ["--action", "init", "--skip-create"])
    _setup(data, ["--action", "insert", "--datafile", str(INITIALDATA)])
    passwords = {_password_var(n): p for n, p in users.items()}
    _setup(data, ["--action", "insert", "--datafile", str(data / "users")], passwords)


def start_server(data: Path, host: str, port: int) -> subprocess.Popen[bytes]:
    """Start RT's standalone server for ``data`` (its own session: pid = process group)."""
    log = data / "server.log"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(RT_SERVER), "--server", "Starlet", "--listen", f"{host}:{port}"],
            env=env(data),
            cwd=data,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(url: str, pid: int, log: Path, timeout: float = _READY_TIMEOUT) -> None:
    """Until RT's REST2 answers (200 or 401) at ``url``; LabError when the server exited or
    did not answer in ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}REST/2.0/", timeout=2) as r:
                if r.status in (200, 401):
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise LabError(f"rt-server exited (see {log}): {tail}") from None
        with suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child, exited: reaped
                raise LabError(f"rt-server exited (see {log})")
        time.sleep(0.2)
    raise LabError(f"RT did not answer on {url} within {timeout:g} s (see {log})")


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (one whose parent has not reaped it yet, e.g.
    the server of a CLI that exited, under an init that reaps late, is gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_server(pid: int, timeout: float = 5.0) -> None:
    """Stop a server this module started: its process group (Starlet's workers), by its pid;
    SIGKILL after ``timeout`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _running(pid):
            return
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


# -- the lab's RT (pbxops lab rt up|down|status) --------------------------------------------


@dataclass(frozen=True)
class LabRt:
    """The lab's RT as recorded (``running``: its pid is alive and ours)."""

    url: str
    host: str
    port: int
    user: str
    pid: int
    data: str
    running: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rt_dir(paths: LabPaths) -> Path:
    return paths.run / "rt"


def _state_file(paths: LabPaths) -> Path:
    return rt_dir(paths) / "state.json"


def _secret_file(paths: LabPaths) -> Path:
    return rt_dir(paths) / "secret"


def _vault(settings: Settings) -> Vault:
    return Vault.from_settings(settings.secret_key_file)


def _ours(pid: int | None, data: Path, listen: str) -> bool:
    """``pid`` is our rt-server: alive, ``listen`` on its command line, cwd ``data``."""
    if not procs.alive(pid, listen):
        return False
    try:
        return Path(f"/proc/{pid}/cwd").resolve() == data.resolve()
    except OSError:
        return False


def _read_state(paths: LabPaths) -> dict[str, Any] | None:
    try:
        raw = json.loads(_state_file(paths).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"{_state_file(paths)}: unreadable ({exc}); `pbxops lab rt down`") from exc
    return raw if isinstance(raw, dict) else None


def status(settings: Settings) -> LabRt | None:
    """The lab's RT as recorded, or None when none was started."""
    paths = LabPaths.of(settings)
    raw = _read_state(paths)
    if raw is None:
        return None
    host, port, pid = str(raw.get("host", "")), int(raw.get("port", 0)), raw.get("pid")
    data = rt_dir(paths)
    return LabRt(
        url=base_url(host, port),
        host=host,
        port=port,
        user=str(raw.get("user", API_USER)),
        pid=int(pid or 0),
        data=str(data),
        running=_ours(pid, data, f"{host}:{port}"),
    )


def default_host(settings: Settings) -> str:
    """The provider address when a lab is up (lab hosts reach it), else loopback."""
    if load_lab_state(LabPaths.of(settings).state_file) is not None:
        return str(PROVIDER_INTERFACE.ip)
    return "127.0.0.1"


def up(
    settings: Settings,
    host: str | None = None,
    port: int = RT_PORT,
    report: Callable[[str], None] = lambda _msg: None,
) -> LabRt:
    """Start the lab's RT (first time: make its database, ~20 s); harmless when it runs.

    A recorded RT that no longer runs is started again on its database; one recorded on
    another address or port is refused (``lab rt down`` first)."""
    why = available()
    if why is not None:
        raise LabError(f"Request Tracker not installed: {why}")
    vault = _vault(settings)  # ConfigError (no key) before anything is made
    paths = LabPaths.of(settings)
    host = host or default_host(settings)
    current = status(settings)
    if current is not None:
        if (current.host, current.port) != (host, port):
            raise LabError(
                f"the lab's RT is recorded on {current.host}:{current.port}, not "
                f"{host}:{port}: `pbxops lab rt down` first"
            )
        if current.running:
            return current
    data = private_dir(rt_dir(paths))
    if not _secret_file(paths).is_file() or not (data / "rt5.db").is_file():
        shutil.rmtree(data)
        data = private_dir(rt_dir(paths))
        password = _secrets.token_urlsafe(24)
        report(f"making RT's database in {data}")
        init_database(data, host, port, {API_USER: password}, disable_root=True)
        atomic_write(_secret_file(paths), vault.encrypt(password) + "\n", mode=0o600)
    else:
        vault.decrypt(_secret_file(paths).read_text().strip())  # the key still opens it
    report(f"starting RT on {host}:{port}")
    proc = start_server(data, host, port)
    atomic_write(
        _state_file(paths),
        json.dumps({"host": host, "port": port, "user": API_USER, "pid": proc.pid}) + "\n",
        mode=0o600,
    )
    try:
        wait_ready(base_url(host, port), proc.pid, data / "server.log")
    except BaseException:
        stop_server(proc.pid)
        raise
    result = status(settings)
    assert result is not None
    return result


def secret(settings: Settings) -> Redacted:
    """The API user's password (decrypted; a ``Redacted``: never shows itself)."""
    target = _secret_file(LabPaths.of(settings))
    try:
        token = target.read_text().strip()
    except FileNotFoundError:
        raise LabError("the lab has no RT: `pbxops lab rt up` first") from None
    return _vault(settings).decrypt(token)


def down(settings: Settings) -> bool:
    """Stop the lab's RT by its pid (when still ours) and remove its directory; True when
    there was one."""
    paths = LabPaths.of(settings)
    data = rt_dir(paths)
    if not data.exists():
        return False
    with suppress(LabError):
        current = status(settings)
        if current is not None and current.running:
            stop_server(current.pid)
    shutil.rmtree(data, ignore_errors=True)
    return True
