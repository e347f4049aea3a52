"""Publishing with the real playbook and role, to directories on this machine
(``ansible_connection=local``): idempotence, removal of phones no longer in the book,
owners that share a server (workaround), and no SIP password in any run artefact."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import pytest

from orchestrator.phones.publish import PublishOptions
from orchestrator.phones.render import Renderer, TemplateError
from orchestrator.phones.service import Workspace, diff_customer, open_workspace, publish_customer
from orchestrator.phones.swap import swap_phone, workaround

from .phones_book import settings_for, write_book
from .test_phones_render import _broken_templates
from .test_phones_service import PLANTED, YEALINK, _db_dump, _plant

ON = date(2026, 6, 1)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    venv_bin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", f"{venv_bin}:{os.environ.get('PATH', '')}")  # its ansible-playbook
    return open_workspace(settings_for(tmp_path, write_book(tmp_path / "book")))


def _options(tmp: Path) -> PublishOptions:
    """Each PBX gets its own provisioning and manifest directory under ``tmp``."""
    local = {"ansible_connection": "local", "ansible_become": False,
             "ansible_python_interpreter": sys.executable}
    per_host = {
        host: {"phone_provisioning_dir": str(tmp / host / "srv"),
               "phone_provisioning_manifest_dir": str(tmp / host / "manifests")}
        for host in ("acme-pbx", "standby-pbx", "nohw-pbx")
    }
    return PublishOptions(connection_vars=local, host_vars=per_host)


def _served(tmp: Path, host: str) -> set[str]:
    return {p.name for p in (tmp / host / "srv").iterdir()}


def _all_text_under(root: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.stat().st_size < 5_000_000
    )


def test_publish_is_idempotent_and_removes_swapped_phones(ws: Workspace, tmp_path: Path) -> None:
    _plant(ws)
    opts = _options(tmp_path)
    [first] = publish_customer(ws, "acme", "tech", ON, opts)
    served = _served(tmp_path, "acme-pbx")
    assert {f"{YEALINK}.cfg", "0004130000AB.xml", "64167f000003-phone.cfg",
            "cfgc074ad000004.xml", "y000000000000.cfg", "000000000000.cfg", "index.html"} == served
    assert set(first.changed) == served - {"index.html"}
    assert PLANTED in (tmp_path / "acme-pbx" / "srv" / f"{YEALINK}.cfg").read_text()
    assert {c.status for c in diff_customer(ws, "acme")} == {"unchanged"}

    [second] = publish_customer(ws, "acme", "tech", ON, opts)
    assert (second.changed, second.removed) == ((), ())

    swap = swap_phone(ws, "acme", YEALINK, "805ec0aabbcc", "tech", ON, options=opts)
    [outcome] = swap.published
    assert outcome.changed == ("805ec0aabbcc.cfg",) and outcome.removed == (f"{YEALINK}.cfg",)
    assert f"{YEALINK}.cfg" not in _served(tmp_path, "acme-pbx")

    kinds = [a.kind for a in ws.ledger.actions(customer_id="acme")]
    assert kinds == ["phones.publish", "phones.publish", "phones.swap", "phones.publish"]

    # A broken template stops the publish before anything is written anywhere.
    before = {p.name: p.read_bytes() for p in (tmp_path / "acme-pbx" / "srv").iterdir()}
    ws.renderer = Renderer(_broken_templates(tmp_path, "yealink/mac.cfg.j2", 3, "{{ oops }}"))
    with pytest.raises(TemplateError, match=r"yealink/mac\.cfg\.j2, line 3"):
        publish_customer(ws, "acme", "tech", ON, opts)
    assert {p.name: p.read_bytes() for p in (tmp_path / "acme-pbx" / "srv").iterdir()} == before
    assert len(ws.ledger.actions(customer_id="acme")) == len(kinds)
    ws.renderer = Renderer()
    assert {c.status for c in diff_customer(ws, "acme")} == {"unchanged"}  # snapshot kept
    assert PLANTED not in _db_dump(ws)
    assert PLANTED not in _all_text_under(ws.settings.state_dir)  # runs, snapshots, staging


def test_workaround_points_phones_to_the_standby_and_revert_removes_them(
    ws: Workspace, tmp_path: Path
) -> None:
    opts = _options(tmp_path)
    publish_customer(ws, "acme", "tech", ON, opts)
    standby_before = _render_standby_own(tmp_path)
    outcomes = workaround(ws, "acme", "standby-pbx", "tech", ON, options=opts)
    assert [o.hostname for o in outcomes] == ["standby-pbx"]
    moved = (tmp_path / "standby-pbx" / "srv" / f"{YEALINK}.cfg").read_text()
    assert "account.1.sip_server.1.address = 10.250.9.10" in moved
    assert "static.auto_provision.server.url.backup = http://10.60.1.10/" in moved
    normal = (tmp_path / "acme-pbx" / "srv" / f"{YEALINK}.cfg").read_text()
    assert "static.auto_provision.server.url.backup = http://10.250.9.10/" in normal
    [action] = ws.ledger.actions(customer_id="acme", kind_prefix="phones.workaround")
    assert action.contract_id == "acme-hwm" and action.detail["server"] == "standby-pbx"

    workaround(ws, "acme", "standby-pbx", "tech", ON, revert=True, options=opts)
    left = _served(tmp_path, "standby-pbx")
    assert f"{YEALINK}.cfg" not in left and "cfgc074ad000004.xml" not in left
    assert {"y000000000000.cfg", "000000000000.cfg"} <= left  # shared files stay
    assert standby_before <= left | {"index.html"}


def _render_standby_own(tmp: Path) -> set[str]:
    srv = tmp / "standby-pbx" / "srv"
    return {p.name for p in srv.iterdir()} if srv.exists() else set()


def test_workaround_is_refused_without_hardware_maintenance(ws: Workspace, tmp_path: Path) -> None:
    from orchestrator.errors import RefusedError

    with pytest.raises(RefusedError, match="no hardware-maintenance contract"):
        workaround(ws, "nohw", "standby-pbx", "tech", ON, options=_options(tmp_path))
    assert not (tmp_path / "standby-pbx").exists()
