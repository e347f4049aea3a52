"""Where a lab keeps its files: the rootfs cache and the per-lab run state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..settings import REPO_ROOT, Settings

LAB_SOURCES = REPO_ROOT / "lab"
FILES = Path(__file__).resolve().parent / "files"


@dataclass(frozen=True)
class LabPaths:
    """Every path of one lab. ``run`` holds state, keys and per-host overlays."""

    cache: Path
    run: Path

    @classmethod
    def of(cls, settings: Settings) -> LabPaths:
        return cls(cache=settings.lab_cache_dir, run=settings.lab_run_dir)

    @property
    def state_file(self) -> Path:
        return self.run / "state.json"

    @property
    def ssh_key(self) -> Path:
        """The ops user's private key (generated at ``up``, never committed)."""
        return self.run / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.run / "ssh" / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.run / "ssh_config"

    @property
    def gnupg(self) -> Path:
        return self.run / "gnupg"

    @property
    def repo(self) -> Path:
        return self.run / "repo"

    @property
    def repo_key(self) -> Path:
        """The repository's public signing key, as hosts get it for ``signed-by``."""
        return self.run / "repo-key.gpg"

    def host_dir(self, machine: str) -> Path:
        return self.run / "hosts" / machine
