"""``pbxops secrets init``: the one place a secret key is created.

Refused when the key file exists (pbxops never replaces a key) and when the ledger already
holds secrets (a new key would not open them: restore the old key file instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .context import open_ledger, sealed_files
from .errors import RefusedError
from .ledger.sealed import samples
from .secrets import create_key_file
from .settings import Settings


@dataclass(frozen=True)
class KeyCreated:
    path: Path
    env_overrides: bool  # PBXOPS_SECRET_KEY is set: it is used instead of the file


def init_key(settings: Settings, env_key: str | None = None) -> KeyCreated:
    path = settings.secret_key_file
    if not path.exists() and not path.is_symlink():
        ledger = open_ledger(settings, readonly=True)
        stored = samples(ledger, sealed_files(settings))
        if stored:
            raise RefusedError(
                f"ledger {ledger.safe_url} already holds secrets (e.g. "
                f"the {stored[0][0]}): a new key would not open them; restore the key file "
                f"{path} from its backup; nothing was written"
            )
    return KeyCreated(create_key_file(path), bool(env_key))
