"""Secrets at rest: encrypted with a key that lives outside the repository.

The key comes from ``PBXOPS_SECRET_KEY`` (a Fernet key) or the key file in settings
(``secret_key_file``). The file is made once, explicitly, by ``pbxops secrets init``
(``create_key_file``: 0600 in a 0700 directory, never over an existing key); a missing key
file, or one that group or others may read, is an error naming the file and what to do —
a new key made silently would encrypt new secrets under a key the existing ones do not
open. Before anything is encrypted, ``Vault.check`` proves the key opens the secrets
already stored (a wrong key writes nothing). Encrypted blobs are safe to keep in the ledger
or on disk; plaintext never is. ``Redacted`` wraps a plaintext so that printing, logging
or repr'ing it shows ``***``.
"""

from __future__ import annotations

import os
import secrets as _stdlib_secrets
import stat
import string
from collections.abc import Iterable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from .errors import ConfigError, RefusedError

INIT_COMMAND = "pbxops secrets init"


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
        """The key of ``PBXOPS_SECRET_KEY``, else of ``key_file`` — which must exist (made by
        ``pbxops secrets init``) and be readable by its owner only. Nothing is created."""
        env = dict(os.environ) if env is None else env
        key = env.get("PBXOPS_SECRET_KEY")
        if key:
            return cls(key.encode())
        try:
            info = key_file.stat()
        except FileNotFoundError:
            raise ConfigError(
                f"secret_key_file {key_file} does not exist: create the key once with "
                f"`{INIT_COMMAND}` (or restore the file from its backup if secrets were "
                "stored before; a new key does not open them)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"secret_key_file {key_file}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"secret_key_file {key_file}: not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"secret_key_file {key_file} is readable or writable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): `chmod 600 {key_file}`, and "
                "consider the key exposed"
            )
        _check_parent(key_file)
        try:
            data = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"secret_key_file {key_file}: {exc.strerror or exc}") from exc
        try:
            return cls(data)
        except ConfigError as exc:
            raise ConfigError(f"secret_key_file {key_file}: {exc}") from exc

    def check(self, stored: Iterable[tuple[str, str]], where: str) -> None:
        """Refuse a key that does not open the secrets already stored (``(what, token)``
        pairs, one per kind is enough): called before anything is encrypted, so a wrong key
        never writes a secret that the right key could not open later."""
        for what, token in stored:
            try:
                self._fernet.decrypt(token.encode())
            except InvalidToken:
                raise ConfigError(
                    f"the secret key does not open the {what} stored in {where}: wrong "
                    "PBXOPS_SECRET_KEY or secret_key_file (restore the key the ledger was "
                    "written with); nothing was written"
                ) from None

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


def _check_parent(key_file: Path) -> None:
    """The key's directory is its owner's only (a setting may point anywhere, /tmp or a
    home directory: pbxops refuses rather than chmod a directory it may not own)."""
    parent = key_file.parent
    try:
        mode = stat.S_IMODE(parent.stat().st_mode)
    except OSError as exc:
        raise ConfigError(f"secret_key_file {key_file}: {parent}: {exc.strerror or exc}") from exc
    if mode & 0o077:
        raise ConfigError(
            f"secret_key_file {key_file}: its directory {parent} is open to group or others "
            f"(mode {mode:04o}): `chmod 700 {parent}` or keep the key in a private directory"
        )


def create_key_file(key_file: Path) -> Path:
    """Make a new key file: 0600 in a 0700 directory; never over an existing file, never
    in a directory group or others can enter."""
    if key_file.exists() or key_file.is_symlink():
        raise RefusedError(
            f"secret_key_file {key_file} exists: pbxops never replaces a key (the secrets "
            "stored under it would be lost); move it away yourself if you mean to"
        )
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"secret_key_file {key_file}: {exc.strerror or exc}") from exc
    _check_parent(key_file)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise RefusedError(f"secret_key_file {key_file} exists (made just now by another run)") from None
    except OSError as exc:
        raise ConfigError(f"secret_key_file {key_file}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(Fernet.generate_key() + b"\n")
    return key_file
