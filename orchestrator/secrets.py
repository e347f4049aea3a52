"""Secrets at rest: encrypted with a key that lives outside the repository.

The key comes from ``PBXOPS_SECRET_KEY`` (a Fernet key) or the key file in settings
(``secret_key_file``, created with mode 0600 on first use). Encrypted blobs are safe to
keep in the ledger or on disk; plaintext never is. ``Redacted`` wraps a plaintext so that
printing, logging or repr'ing it shows ``***``.
"""

from __future__ import annotations

import os
import secrets as _stdlib_secrets
import string
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from .errors import ConfigError


class Redacted(str):
    """A str that never shows itself in repr() or formatting by accident."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Redacted('***')"

    def reveal(self) -> str:
        return str.__str__(self)


class Vault:
    """Encrypt/decrypt small secrets with one symmetric key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "secret key is not a valid Fernet key (urlsafe base64, 32 bytes)"
            ) from exc

    @classmethod
    def from_settings(cls, key_file: Path, env: dict[str, str] | None = None) -> Vault:
        env = dict(os.environ) if env is None else env
        key = env.get("PBXOPS_SECRET_KEY")
        if key:
            return cls(key.encode())
        try:
            if not key_file.exists():
                key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
            if not key_file.is_file():
                raise ConfigError(f"secret_key_file {key_file}: not a regular file")
            data = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"secret_key_file {key_file}: {exc.strerror or exc}") from exc
        try:
            return cls(data)
        except ConfigError as exc:
            raise ConfigError(f"secret_key_file {key_file}: {exc}") from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> Redacted:
        try:
            return Redacted(self._fernet.decrypt(token.encode()).decode())
        except InvalidToken as exc:
            raise ConfigError("cannot decrypt a stored secret: wrong secret key?") from exc


def generate_password(length: int = 20) -> Redacted:
    alphabet = string.ascii_letters + string.digits
    return Redacted("".join(_stdlib_secrets.choice(alphabet) for _ in range(length)))
