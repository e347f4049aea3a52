"""Small file-system helpers: nothing is ever half-written, and pbxops' own state (ledger,
run artifacts, backups, access material, docs) is the user's alone.

The rule for the state directory: directories 0700, files 0600. The command line sets
umask 077 once at start (``PRIVATE_UMASK``), so whatever pbxops or its children (Ansible,
SQLite) create there is private; files created by others with modes of their own (Ansible's
fetch keeps the host's mode, Mitogen sets it explicitly) are tightened with ``lock_down``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import ConfigError

PRIVATE_UMASK = 0o077


def current_umask() -> int:
    mask = os.umask(PRIVATE_UMASK)  # the only way to read it; stricter while it is read
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, text: str, mode: int | None = None) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    ``mode`` None: a new file's mode under the umask (0600 under pbxops' CLI); never the
    mode an earlier file at ``path`` had."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask() if mode is None else mode)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise


def private_dir(path: Path) -> Path:
    """Create ``path`` as a 0700 directory (parents under the umask); an existing ``path``
    owned by this user is made 0700. Only for directories pbxops owns (under its state
    dir), never for one a setting may point at (that could be /tmp)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _chmod(path)
    return path


def lock_down(top: Path, stop: Path | None = None) -> None:
    """Make everything under ``top`` private: directories 0700, files 0600 (0700 when
    executable). With ``stop`` (an ancestor, e.g. the state dir), the directories between
    ``stop`` and ``top`` are made 0700 too. Symbolic links are never followed."""
    if stop is not None and top.is_relative_to(stop) and top != stop:
        for parent in list(top.parents)[: len(top.relative_to(stop).parts) - 1]:
            _chmod(parent)
    _chmod(top)
    if top.is_symlink() or not top.is_dir():
        return
    for base, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            _chmod(Path(base, name))


def _chmod(path: Path) -> None:
    """0700 for a directory or an executable, else 0600; links and others' files as they are."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
            return
        private = 0o700 if stat.S_ISDIR(st.st_mode) or st.st_mode & stat.S_IXUSR else 0o600
        if stat.S_IMODE(st.st_mode) != private:
            os.chmod(path, private)
    except OSError:
        pass  # vanished meanwhile: nothing to tighten
