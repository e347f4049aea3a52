"""While a lab is up, every command finds what the lab needs without a setting (issue 16):
its ssh_config, and the WireGuard .debs scripts/setup.sh fetched (`access grant` failed on the
lab with "No package matching 'wireguard-tools'" until a setting was set by hand)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.settings import load_settings


def _config(tmp_path: Path) -> str:
    """An empty config file: no ./pbxops.yml or user config reaches the test."""
    empty = tmp_path / "empty.yml"
    empty.write_text("{}\n")
    return str(empty)


def _lab(tmp_path: Path, up: bool, debs: bool) -> dict[str, str]:
    run, cache = tmp_path / "run", tmp_path / "cache"
    run.mkdir(parents=True)
    (cache / "debs").mkdir(parents=True)
    if up:
        (run / "ssh_config").write_text("Host *\n")
    if debs:
        (cache / "debs" / "wireguard-tools_1.0_amd64.deb").write_bytes(b"!<arch>\n")
    return {"PBXOPS_LAB_RUN_DIR": str(run), "PBXOPS_LAB_CACHE_DIR": str(cache)}


def test_a_lab_that_is_up_gives_its_debs_dir(tmp_path: Path) -> None:
    settings = load_settings(env=_lab(tmp_path, up=True, debs=True), config=_config(tmp_path))
    assert settings.vpn_debs_dir == tmp_path / "cache" / "debs"
    assert settings.ssh_config == tmp_path / "run" / "ssh_config"


def test_no_lab_or_no_debs_leaves_it_unset_and_a_setting_wins(tmp_path: Path) -> None:
    assert load_settings(env=_lab(tmp_path / "a", up=False, debs=True),
                         config=_config(tmp_path)).vpn_debs_dir is None
    assert load_settings(env=_lab(tmp_path / "b", up=True, debs=False),
                         config=_config(tmp_path)).vpn_debs_dir is None
    env = {**_lab(tmp_path / "c", up=True, debs=True), "PBXOPS_VPN_DEBS_DIR": "/srv/debs"}
    assert load_settings(env=env, config=_config(tmp_path)).vpn_debs_dir == Path("/srv/debs")
