"""The Ansible inventory rendered from the book."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from typing import Any

from orchestrator.fleet import load_book
from orchestrator.inventory import render_inventory, static_inventory
from orchestrator.platforms import profile
from tests.conftest import DEMO_BOOK, REPO, BookFactory


def test_groups_per_customer_platform_deployment_and_sla() -> None:
    inv = render_inventory(load_book(DEMO_BOOK), date(2026, 11, 25))
    assert inv["customer_clinic_nord"]["hosts"] == ["clinic-nord-pbx"]
    assert "clinic-nord-pbx" in inv["sla_platinum"]["hosts"]
    assert "jade-pbx" in inv["platform_3cx"]["hosts"]
    assert "lumen-pbx" in inv["not_entitled"]["hosts"]
    assert "clinic-nord-edge" in inv["edge_routers"]["hosts"]
    hv = inv["_meta"]["hostvars"]["clinic-nord-pbx"]
    assert hv["ansible_host"] == "10.210.4.10"
    assert hv["pbxops_reaction_hours"] == 4 and hv["pbxops_update_contract"] == "clinic-nord-swm"
    assert hv["pbxops_call_drain_minutes"] == 45


def test_static_inventory_keeps_hostvars_and_groups() -> None:
    inv = static_inventory(render_inventory(load_book(DEMO_BOOK), date(2026, 11, 25)))
    assert inv["all"]["hosts"]["fjord-pbx"]["pbxops_entitled"] is False
    assert "fjord-pbx" in inv["all"]["children"]["not_entitled"]["hosts"]


def test_dynamic_inventory_script_works_with_plain_ansible() -> None:
    env = dict(os.environ, PBXOPS_ON="2026-11-25")
    out = subprocess.run(
        [sys.executable, str(REPO / "inventory" / "pbxops_inventory.py"), "--list"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "harbor-pbx" in json.loads(out.stdout)["customer_harbor"]["hosts"]
    ansible_inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    graph = subprocess.run(
        [
            ansible_inventory,
            "-i",
            str(REPO / "inventory" / "pbxops_inventory.py"),
            "--graph",
            "entitled",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert "clinic-nord-pbx" in graph.stdout and "fjord-pbx" not in graph.stdout


def test_each_host_carries_its_pbx_profile() -> None:
    hv = render_inventory(load_book(DEMO_BOOK), date(2026, 11, 25))["_meta"]["hostvars"]
    assert hv["clinic-nord-pbx"]["pbxops_pbx"] == profile("labpbx").role_vars()
    assert hv["isar-pbx"]["pbxops_pbx"]["installer"] == "fwconsole"
    assert hv["jade-pbx"]["pbxops_pbx"]["service"] == "3CXPhoneSystem01"
    assert "pbxops_pbx" not in hv["clinic-nord-edge"]


def test_a_system_without_pbx_profile_gets_its_platform_s(make_book: BookFactory,
                                                          valid_customer: dict[str, Any]) -> None:
    del valid_customer["systems"][0]["pbx_profile"]
    inv = render_inventory(load_book(make_book(valid_customer)), date(2026, 6, 1))
    pbx = inv["_meta"]["hostvars"]["acme-pbx"]["pbxops_pbx"]
    assert (pbx["name"], pbx["service"], pbx["config_dir"]) == ("asterisk", "asterisk",
                                                                "/etc/asterisk")
