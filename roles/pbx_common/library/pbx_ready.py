#!/usr/bin/python3
"""Read-only pre-checks of a PBX host in one call: OS release, free disk space on / and
/var, the dpkg lock (waited for). Used by the pbx_preflight role."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pbx_host import dpkg_lock_free, free_mib

DOCUMENTATION = r"""
module: pbx_ready
short_description: Check a PBX host is ready for maintenance, in one call
description: Reads the Debian release, the free space on the given filesystems and waits
  for the dpkg lock; returns why the host is refused (empty when it is ready).
options:
  min_free_mib: {type: int, required: true, description: MiB needed on every path}
  paths: {type: list, elements: str, default: [/, /var], description: filesystems to measure}
  apt_lock_timeout: {type: int, default: 60, description: seconds to wait for the dpkg lock}
  publish: {type: str, default: '', description: also set PUBLISH_refused and PUBLISH_unreachable (false) as facts}
"""

RETURN = r"""
os_release: {type: str, description: contents of /etc/debian_version}
free_mib: {type: int, description: the smallest free space among the paths}
dpkg_lock_free: {type: bool, description: no other process held the dpkg lock}
refused: {type: str, description: why the host must not be touched ('' when ready)}
"""


def main():
    module = AnsibleModule(
        argument_spec=dict(
            min_free_mib=dict(type="int", required=True),
            paths=dict(type="list", elements="str", default=["/", "/var"]),
            apt_lock_timeout=dict(type="int", default=60),
            publish=dict(type="str", default=""),
        ),
        supports_check_mode=True,  # reads only
    )
    p = module.params
    try:
        with open("/etc/debian_version", encoding="utf-8") as handle:
            release = handle.read().strip()
    except OSError:
        release = ""
    free = free_mib(p["paths"])
    lock_free = dpkg_lock_free(p["apt_lock_timeout"])
    if free < p["min_free_mib"]:
        paths = " or ".join(p["paths"])
        refused = f"not enough disk space: {free} MiB free on {paths}, {p['min_free_mib']} MiB needed"
    elif not lock_free:
        refused = f"another process held the dpkg lock for {p['apt_lock_timeout']} s"
    else:
        refused = ""
    prefix = p["publish"]
    facts = {f"{prefix}_refused": refused, f"{prefix}_unreachable": False} if prefix else {}
    module.exit_json(changed=False, ansible_facts=facts, os_release=release, free_mib=free,
                     dpkg_lock_free=lock_free, refused=refused)


if __name__ == "__main__":
    main()
