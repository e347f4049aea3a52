"""The playbook and role variables of a wave's release (PBX update or OS upgrade)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model import OsUpgrade, PbxRelease


def playbook_and_vars(release: PbxRelease | OsUpgrade, *, wave_id: int, fetch_dir: Path,
                      rollback: bool, call_poll_seconds: int) -> tuple[str, dict[str, Any]]:
    common = {"pbxops_wave_id": wave_id}
    if isinstance(release, PbxRelease):
        return "pbx_update.yml", {
            **common,
            "pbx_update_packages": release.packages,
            "pbx_update_release_version": release.version,
            "pbx_update_restart": release.restart,
            "pbx_update_config_changes": release.config_changes,
            "pbx_update_rollback": rollback,
            "pbx_update_call_poll_seconds": call_poll_seconds,
            "pbx_update_fetch_dir": str(fetch_dir),
        }
    return "os_upgrade.yml", {
        **common,
        "os_upgrade_suite": release.suite,
        "os_upgrade_packages": release.packages,
        "os_upgrade_target": release.to_os,
        "os_upgrade_major": release.major,
        "os_upgrade_reboot": release.reboot,
        "os_upgrade_version_file": release.version_file,
        "os_upgrade_rollback": rollback,
        "os_upgrade_call_poll_seconds": call_poll_seconds,
        "os_upgrade_fetch_dir": str(fetch_dir),
    }
