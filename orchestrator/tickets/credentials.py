"""The ticket system's password or token: encrypted at rest (``Vault``), never shown.

Stored as one Fernet token in ``state_dir/tickets/secret`` (0600 in a 0700 directory);
``pbxops tickets login`` writes it, every RT call decrypts it into a ``Redacted``.
"""

from __future__ import annotations

from pathlib import Path

from ..context import Context
from ..errors import ConfigError
from ..fsutil import atomic_write, private_dir
from ..secrets import Redacted, Vault
from ..settings import Settings


def path(settings: Settings) -> Path:
    return settings.ticket_secret_file


def _vault(settings: Settings) -> Vault:
    return Vault.from_settings(settings.secret_key_file)


def _checked_vault(settings: Settings) -> Vault:
    """The key, checked against every secret stored under it (ledger and this file)
    before anything is encrypted with it."""
    return Context(settings, actor="pbxops tickets login", readonly=True).vault


def store(settings: Settings, secret: str) -> Path:
    """Encrypt and write the secret; the old one must open with the same key (a wrong
    key writes nothing)."""
    if not secret.strip():
        raise ConfigError("the RT password or token is empty; nothing was written")
    vault = _checked_vault(settings)  # ConfigError: a wrong key writes nothing
    target = path(settings)
    private_dir(target.parent)
    atomic_write(target, vault.encrypt(secret) + "\n", mode=0o600)
    return target


def load(settings: Settings) -> Redacted:
    target = path(settings)
    try:
        token = target.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(
            f"ticket_url is set but no RT password or token is stored ({target}): run "
            "`pbxops tickets login`"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{target}: {exc.strerror or exc}") from exc
    return _vault(settings).decrypt(token)
