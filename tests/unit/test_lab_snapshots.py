"""`lab restore`'s swap of a host's writable layer, on plain directories: the copy goes
to a staging dir and replaces the layer only once complete. (The whole restore — shut
down, unmount, boot — is tests/lab, with a real host.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import LabError
from orchestrator.lab.snapshots import _replace_upper


def _layer(tmp_path: Path) -> Path:
    upper = tmp_path / "rw" / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "os-release").write_text("trixie\n")
    (tmp_path / "rw" / "work" / "index").mkdir(parents=True)
    return upper


def test_a_failed_copy_leaves_the_layer_as_it_was(tmp_path: Path) -> None:
    upper = _layer(tmp_path)
    with pytest.raises(LabError, match=r"cp -a .* failed: .*cannot stat"):
        _replace_upper(tmp_path / "no-such-snapshot", upper)
    assert (upper / "etc" / "os-release").read_text() == "trixie\n"
    assert sorted(p.name for p in upper.parent.iterdir()) == ["upper", "work"]


def test_a_restore_replaces_the_layer_and_empties_the_work_dir(tmp_path: Path) -> None:
    upper = _layer(tmp_path)
    snap = tmp_path / "snapshots" / "before"
    (snap / "etc").mkdir(parents=True)
    (snap / "etc" / "os-release").write_text("bookworm\n")
    (snap / "etc" / "os-release").chmod(0o640)
    _replace_upper(snap, upper)
    assert (upper / "etc" / "os-release").read_text() == "bookworm\n"
    assert (upper / "etc" / "os-release").stat().st_mode & 0o777 == 0o640
    assert list((upper.parent / "work").iterdir()) == []
    assert sorted(p.name for p in upper.parent.iterdir()) == ["upper", "work"]
