#!/usr/bin/env python3
"""Ansible dynamic inventory of the contract book, for plain ``ansible-playbook``:

    ansible-playbook -i inventory/pbxops_inventory.py playbooks/health_check.yml

The book is ``$PBXOPS_BOOK`` (default: inventory/demo beside this script); entitlement is
evaluated for today, or ``$PBXOPS_ON`` (YYYY-MM-DD).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.errors import PbxopsError
from orchestrator.fleet import load_book
from orchestrator.inventory import render_inventory


def main(argv: list[str]) -> int:
    book = os.environ.get("PBXOPS_BOOK") or str(Path(__file__).resolve().parent / "demo")
    on = date.fromisoformat(os.environ["PBXOPS_ON"]) if os.environ.get("PBXOPS_ON") else date.today()
    try:
        inv = render_inventory(load_book(book), on)
    except PbxopsError as exc:
        print(f"pbxops inventory: {exc}", file=sys.stderr)
        return 1
    if len(argv) > 2 and argv[1] == "--host":
        print(json.dumps(inv["_meta"]["hostvars"].get(argv[2], {})))
    else:
        print(json.dumps(inv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
