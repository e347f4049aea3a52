"""Publishing rendered files to a provisioning server with ``playbooks/phone_provisioning.yml``.

The files are staged on the controller (mode 0600 in a 0700 scratch directory under the
state directory that is removed even when pbxops is killed: ``orchestrator.scratch``) only
while the playbook runs; it copies what changed and removes what its owner published before but no
longer does. After a successful run pbxops keeps a *published snapshot* that ``phones diff``
compares against: per file its SHA-256 and its text with the SIP passwords masked, so no
plaintext password stays on the controller. A failed run leaves the server's files and the
snapshot as they were.

On a PBX whose profile has a ``sip_accounts_file`` (real Asterisk) the same run installs the
PBX's SIP accounts (``accounts.py``), rendered from the same credentials: staged beside the
phone files but never copied into the HTTP directory, written 0640 root:asterisk, included
from ``pjsip.conf`` and loaded with a PJSIP reload (roles/phone_provisioning/tasks/accounts.yml).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HostError
from ..executor import new_ident, run_playbook
from ..fsutil import atomic_write
from ..scratch import scratch_dir
from ..settings import Settings
from .render import PhoneFiles, RenderedFile

PLAYBOOK = "phone_provisioning.yml"


@dataclass(frozen=True)
class PublishTarget:
    """One set of files for one server: ``owner`` is who publishes it there."""

    hostname: str
    address: str
    owner: str
    files: PhoneFiles
    accounts: RenderedFile | None = None  # the PBX's PJSIP accounts (real Asterisk only)
    accounts_dest: str = ""  # where the PBX reads them (the profile's sip_accounts_file)


@dataclass(frozen=True)
class PublishOptions:
    """How to reach the servers; the defaults are those of the role."""

    connection_vars: Mapping[str, Any] = field(default_factory=dict)  # for every host
    host_vars: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per hostname
    provisioning_dir: str | None = None
    manifest_dir: str | None = None


@dataclass(frozen=True)
class PublishOutcome:
    hostname: str
    owner: str
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    ok: bool = True
    error: str = ""
    accounts_changed: bool = False  # the PBX's SIP accounts were rewritten and reloaded


def _phones_dir(settings: Settings) -> Path:
    return settings.state_dir / "phones"


def snapshot_file(settings: Settings, hostname: str, owner: str) -> Path:
    return _phones_dir(settings) / "published" / hostname / f"{owner}.json"


@dataclass(frozen=True)
class PublishedFile:
    sha256: str
    redacted: str  # the content with SIP passwords masked


def published_snapshot(settings: Settings, hostname: str, owner: str) -> dict[str, PublishedFile]:
    """What pbxops last published there successfully: file name -> hash and masked text."""
    path = snapshot_file(settings, hostname, owner)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {name: PublishedFile(v["sha256"], v["redacted"]) for name, v in data.items()}


ACCOUNTS_STAGED = "pbx-sip-accounts.conf"  # never among the phone files' names


def _write_private(directory: Path, files: PhoneFiles, accounts: RenderedFile | None) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    staged = [(f.name, f) for f in files.files]
    if accounts is not None:
        staged.append((ACCOUNTS_STAGED, accounts))
    for name, f in staged:
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f.content)


@contextmanager
def stage(settings: Settings, target: PublishTarget) -> Iterator[Path]:
    """The files in a private staging directory on the controller that cannot outlive
    this process (``scratch.scratch_dir``: removed on return, error or kill -9)."""
    with scratch_dir(settings.state_dir, f"phones-{target.hostname}") as staging:
        _write_private(staging, target.files, target.accounts)
        yield staging


def _commit_snapshot(settings: Settings, target: PublishTarget) -> None:
    snap = {
        f.name: {"sha256": f.sha256, "redacted": target.files.redact(f.content)}
        for f in target.files.files
    }
    atomic_write(snapshot_file(settings, target.hostname, target.owner),
                 json.dumps(snap, indent=1, sort_keys=True), mode=0o600)


def extravars(target: PublishTarget, staging: Path, options: PublishOptions) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "pbxops_target": target.hostname,
        "phone_provisioning_owner": target.owner,
        "phone_provisioning_src": str(staging),
        "phone_provisioning_files": list(target.files.names),
    }
    if options.provisioning_dir:
        ev["phone_provisioning_dir"] = options.provisioning_dir
    if options.manifest_dir:
        ev["phone_provisioning_manifest_dir"] = options.manifest_dir
    if target.accounts is not None:
        ev["phone_provisioning_accounts_src"] = ACCOUNTS_STAGED
        ev["phone_provisioning_accounts_dest"] = target.accounts_dest
        ev["phone_provisioning_accounts_extensions"] = sorted(
            {f.extension for f in target.files.files if f.extension})
    return ev


def publish(settings: Settings, target: PublishTarget, options: PublishOptions) -> PublishOutcome:
    """Stage, run the playbook on the target, keep the snapshot on success."""
    with stage(settings, target) as staging:
        return _run(settings, target, staging, options)


def _run(
    settings: Settings, target: PublishTarget, staging: Path, options: PublishOptions
) -> PublishOutcome:
    host_vars = {
        "ansible_host": target.address,
        **options.connection_vars,
        **options.host_vars.get(target.hostname, {}),
    }
    inventory = {"all": {"hosts": {target.hostname: host_vars}}}
    result = run_playbook(
        settings,
        PLAYBOOK,
        inventory,
        [target.hostname],
        extravars=extravars(target, staging, options),
        ident=new_ident(f"phones-{target.owner}"),
    )
    outcome = result.hosts.get(target.hostname)
    if outcome is None or not outcome.succeeded or result.status != "successful":
        error = (outcome.error if outcome else None) or f"playbook {result.status}"
        where = f" ({outcome.failed_task})" if outcome and outcome.failed_task else ""
        return PublishOutcome(target.hostname, target.owner, ok=False, error=error + where)
    _commit_snapshot(settings, target)
    return PublishOutcome(
        target.hostname,
        target.owner,
        changed=tuple(outcome.facts.get("changed", ())),
        removed=tuple(outcome.facts.get("removed", ())),
        accounts_changed=str(outcome.facts.get("accounts_changed", "")).lower() == "true",
    )


def raise_for(outcomes: list[PublishOutcome]) -> None:
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise HostError("; ".join(f"publish to {o.hostname} failed: {o.error}" for o in failed))
