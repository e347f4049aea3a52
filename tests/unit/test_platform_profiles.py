"""One PBX platform profile per kind of PBX (orchestrator/platforms.py), consumed by every role
and check that touches a PBX; no book data in a shell."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import ValidationError

from orchestrator import platforms
from orchestrator.fleet import load_book
from orchestrator.health.sweep import FACTS_SCRIPT, SweepOptions, facts_argv, parse_facts
from orchestrator.model.customer import Platform, System
from tests.conftest import DEMO_BOOK, REPO

ROLES = REPO / "roles"
PBX_ROLES = ("pbx_update", "pbx_preflight", "pbx_check", "os_upgrade", "pbx_health")


def _tasks(path: Path) -> list[dict[str, Any]]:
    """Every task of a task file, blocks and rescues flattened."""
    out: list[dict[str, Any]] = []
    for task in yaml.safe_load(path.read_text()) or []:
        out.append(task)
        for key in ("block", "rescue", "always"):
            out.extend(task.get(key, []))
    return out


def _role_tasks(*roles: str) -> list[tuple[Path, dict[str, Any]]]:
    return [(f, t) for r in roles for f in sorted((ROLES / r / "tasks").glob("*.yml"))
            for t in _tasks(f)]


def test_every_book_platform_has_its_profile_and_labpbx_stands_in_for_asterisk() -> None:
    served = {p.platform for p in platforms.PROFILES.values()}
    assert served == set(get_args(Platform))
    for platform in get_args(Platform):
        assert platforms.profile(platform).platform == platform  # the default profile
    assert platforms.profile("labpbx").platform == "asterisk"
    assert set(platforms.PROFILES) == {"asterisk", "freepbx", "3cx", "labpbx"}


@pytest.mark.parametrize("name", sorted(platforms.PROFILES))
def test_every_profile_is_complete(name: str) -> None:
    p = platforms.profile(name)
    assert p.name == name
    assert p.installer in {"apt", "fwconsole"}
    for f in ("package", "service", "calls_command"):
        assert getattr(p, f), f"{name}: {f} is empty"
    for f in ("config_dir", "cert_path", "backup_dir"):
        assert getattr(p, f).startswith("/"), f"{name}: {f} is not an absolute path"
    assert p.backup_dir == "/var/backups/pbxops"
    assert 0 < p.sip_port < 65536
    assert set(p.role_vars()) == {f.name for f in fields(platforms.PbxProfile)}


def test_real_asterisk_and_the_lab_stand_in() -> None:
    a, lab = platforms.profile("asterisk"), platforms.profile("labpbx")
    assert (a.package, a.service, a.config_dir) == ("asterisk", "asterisk", "/etc/asterisk")
    assert "asterisk -rx 'core show channels count'" in a.calls_command
    assert a.version_command == ""  # the version of record is asterisk's dpkg version
    assert "asterisk -rx 'core show version'" in a.running_command
    assert lab.running_command == ""  # LabPBX's SIP Server header carries its version
    assert (lab.package, lab.service, lab.config_dir) == ("labpbx", "labpbx", "/etc/labpbx")
    assert lab.calls_command == "labpbx-cli calls" and lab.cert_path == "/etc/labpbx/tls.crt"


def test_asterisk_version_and_calls_commands_parse_the_console_output() -> None:
    """The profile's commands against what `asterisk -rx` prints (asterisk replaced by a stub)."""
    version = "Asterisk 20.6.0~dfsg+~cs6.13.40431414-3 built by pbuilder @ debian on a x86_64\n"
    channels = "0 active channels\n3 active calls\n17 calls processed\n"
    stub = (f"asterisk() {{ case \"$2\" in 'core show version') printf '{version}';; "
            f"*) printf '{channels}';; esac; }}; ")
    a = platforms.profile("asterisk")
    out = subprocess.run(["bash", "-c", stub + a.calls_command], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "3"
    # The running check: the daemon answers and started (now - elapsed) after dpkg unpacked
    # the package (the .list file's mtime): 1000 - 5 = 995 >= 990, not >= 999.
    for installed, want in (("990", "20.6.0~dfsg+~cs6.13.40431414-3"), ("999", "")):
        fakes = (stub + "systemctl() { echo 4242; }; ps() { echo '    5'; }; "
                 f"date() {{ echo 1000; }}; stat() {{ echo {installed}; }}; ")
        out = subprocess.run(["bash", "-c", fakes + a.running_command], capture_output=True,
                             text=True, check=False)
        assert out.stdout.strip() == want and (out.returncode == 0) == bool(want)


def test_system_profile_defaults_to_its_platform_and_is_validated(
    valid_customer: dict[str, Any],
) -> None:
    data = {k: v for k, v in valid_customer["systems"][0].items() if k != "pbx_profile"}
    assert System.model_validate(data).profile_name == "asterisk"
    assert System.model_validate({**data, "pbx_profile": "labpbx"}).profile_name == "labpbx"
    with pytest.raises(ValidationError, match="unknown PBX profile 'avaya'"):
        System.model_validate({**data, "pbx_profile": "avaya"})
    with pytest.raises(ValidationError, match="pbx_profile 'labpbx' is for platform asterisk"):
        System.model_validate({**data, "platform": "freepbx", "pbx_profile": "labpbx"})


def test_no_labpbx_outside_the_profile_and_the_lab() -> None:
    out = subprocess.run(["grep", "-rln", "labpbx", "orchestrator", "roles", "playbooks"],
                         cwd=REPO, capture_output=True, text=True, check=False)
    found = {f for f in out.stdout.split() if "__pycache__" not in f}
    assert {f for f in found if not f.startswith("orchestrator/lab/")} == {
        "orchestrator/platforms.py"}


def test_pbx_roles_take_the_platform_from_the_profile() -> None:
    for role, names in {
        "pbx_update": ("installer", "package", "service", "config_dir", "calls_command",
                       "version_command", "backup_dir"),
        "pbx_check": ("package", "service", "config_dir", "version_command"),
        "os_upgrade": ("calls_command", "package", "service", "backup_dir"),
        "pbx_health": ("cert_path", "backup_dir"),
    }.items():
        defaults = (ROLES / role / "defaults" / "main.yml").read_text()
        for name in names:
            assert f"pbxops_pbx.{name}" in defaults, f"{role} does not read pbxops_pbx.{name}"


def _shell_text(task: dict[str, Any]) -> str | None:
    for key in ("ansible.builtin.shell", "shell"):
        if key in task:
            value = task[key]
            return value if isinstance(value, str) else str(value.get("cmd", ""))
    return None


def test_no_book_data_in_a_shell() -> None:
    """Only profile constants (commands of orchestrator/platforms.py) and integers are
    interpolated into a shell; package names and versions go through argv."""
    allowed = re.compile(r"\{\{\s*(pbx_update_calls_command|pbx_update_version_command|"
                         r"pbx_update_running_command|pbx_check_running_command|"
                         r"pbx_check_version_command|os_upgrade_calls_command|"
                         r"pbx_update_registrations_command)\s*\}\}")
    shells = [(f, _shell_text(t)) for f, t in _role_tasks(*PBX_ROLES)]
    for f, text in shells:
        if text is None:
            continue
        for expr in re.findall(r"\{\{.*?\}\}", text):
            assert allowed.fullmatch(expr), f"{f.relative_to(REPO)}: {expr} in a shell"
    assert any(t for _, t in shells), "the profile commands run in a shell"


def test_every_pbx_role_reads_the_host_through_the_one_probe_module() -> None:
    """One digest, one version read, one SIP check: pbx_check (also on resume), pbx_update's
    post-check and its backup all go through pbx_common's modules (pbx_host.py)."""
    tasks = _role_tasks("pbx_check", "pbx_update", "pbx_preflight", "os_upgrade")
    used = {name for _, t in tasks for name in t if name.startswith("pbx_")}
    assert {"pbx_state", "pbx_backup", "pbx_marker", "pbx_ready"} <= used, used
    assert not [f for f, _ in tasks if f.name in ("digest.yml", "version.yml")]
    # the shell commands a probe runs are the profile's constants, never book data
    profile_var = re.compile(r"\{\{ (pbx_check|pbx_update)_(version|running)_command \}\}")
    for f, t in tasks:
        for key in ("version_command", "running_command"):
            if key in (t.get("pbx_state") or {}):
                assert profile_var.fullmatch(t["pbx_state"][key]), f"{f.name}: {t['pbx_state'][key]}"


def test_installers_have_their_tasks() -> None:
    tasks = ROLES / "pbx_update" / "tasks"
    for text in ((tasks / "update.yml").read_text(), (tasks / "rollback.yml").read_text()):
        assert "pbx_update_installer == 'apt'" in text
        assert "pbx_update_installer == 'fwconsole'" in text
    fw = yaml.safe_load((tasks / "fwconsole.yml").read_text())
    download = fw[1]["ansible.builtin.command"]["argv"]
    assert download[:4] == ["fwconsole", "ma", "downloadinstall", "framework"]


def test_roles_publish_the_typed_facts_the_engine_reads() -> None:
    def facts(*roles: str) -> set[str]:
        return {k for _, t in _role_tasks(*roles)
                for k in (t.get("ansible.builtin.set_fact") or {}) if "_out_" in k}

    for role in ("pbx_update", "os_upgrade"):
        want = {f"{role}_out_{n}" for n in ("version_before", "version_after", "backup",
                                           "rolled_back", "refused", "already_at_target",
                                           "package_changed")}
        assert want <= facts(role), want - facts(role)
    # pbx_preflight and pbx_check publish through their module (pbx_common), no set_fact task
    assert {"pbx_preflight_out_unreachable", "pbx_preflight_out_refused"} <= (
        facts("pbx_preflight") | published("pbx_preflight", "pbx_ready", ("refused", "unreachable")))
    state = ("version", "service", "sip_status", "server_header", "config_digest", "last_update",
             "running", "pinned")
    assert {f"pbx_check_out_{n}" for n in state} <= published("pbx_check", "pbx_state", state)


def published(role: str, module: str, names: tuple[str, ...]) -> set[str]:
    """The facts a role's call of a pbx_common module publishes (its ``publish`` prefix),
    for the result names the module really returns."""
    source = (ROLES / "pbx_common" / "library" / f"{module}.py").read_text()
    returned = {n for n in names if f'"{n}"' in source or f"_{n}\"" in source}
    return {f"{t[module]['publish']}_{n}" for _, t in _role_tasks(role)
            if "publish" in (t.get(module) or {}) for n in returned}


def test_os_upgrade_refreshes_the_lists_before_it_uses_the_suite() -> None:
    """Finding 8 of issue 13: with stale lists apt refuses the suite as Default-Release, even
    in the task that updates the cache."""
    tasks = _tasks(ROLES / "os_upgrade" / "tasks" / "upgrade.yml")
    apt = [t["ansible.builtin.apt"] for t in tasks if "ansible.builtin.apt" in t]
    assert apt[0].get("update_cache") and "default_release" not in apt[0]
    assert any("default_release" in a for a in apt[1:])


def test_the_health_sweep_asks_each_host_about_its_own_profile() -> None:
    fleet = load_book(DEMO_BOOK)
    opts = SweepOptions()
    lab_argv = facts_argv(fleet.host("clinic-nord-pbx"), opts)
    assert lab_argv[-5:] == ["labpbx", "labpbx", "''", "/etc/labpbx/tls.crt", "/var/backups/pbxops"]
    jade = facts_argv(fleet.host("jade-pbx"), opts)
    assert jade[-5] == "3CXPhoneSystem01"
    isar = facts_argv(fleet.host("isar-pbx"), opts)
    # ssh hands the remote shell one command line: the quoted command survives it whole
    assert shlex.split(" ".join(isar[-5:]))[2] == platforms.profile("freepbx").version_command
    # the script reads the version through the profile's command when there is one
    out = subprocess.run(["sh", "-s", "--", "nosuch", "nosuch", "echo 1.2.3", "/nonexistent",
                          "/nonexistent"], input=FACTS_SCRIPT, capture_output=True, text=True,
                         check=True)
    assert parse_facts(out.stdout).package_version == "1.2.3"

