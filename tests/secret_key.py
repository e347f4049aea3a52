"""How tests get a secret key: the product's own `pbxops secrets init` path, never a key
file made by hand (and pbxops itself no longer makes one on first use)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.secrets_setup import init_key
from orchestrator.settings import Settings


def ensure_key(settings: Settings) -> Settings:
    """Run `secrets init` for ``settings`` unless its key file exists; the settings."""
    if not settings.secret_key_file.exists():
        init_key(settings)
    return settings


def ensure_key_env(env: Mapping[str, str]) -> Mapping[str, str]:
    """`pbxops secrets init` with this environment (PBXOPS_SECRET_KEY_FILE...), unless the
    key file exists; the environment."""
    key = env.get("PBXOPS_SECRET_KEY_FILE")
    if key and Path(key).exists():
        return env
    result = CliRunner().invoke(main, ["secrets", "init"], env=dict(env))
    assert result.exit_code == 0, result.output
    return env
