#!/usr/bin/python3
"""Write the host's update marker (/var/lib/pbxops/last_update.json: what `wave resume`
needs after a crash) atomically, 0600 in a 0700 directory."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pbx_host import marker_text, read_json, write_private

DOCUMENTATION = r"""
module: pbx_marker
short_description: Write the update marker of a PBX host
options:
  path: {type: str, required: true, description: the marker file}
  content: {type: dict, required: true, description: what it records}
"""


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="str", required=True),
                           content=dict(type="dict", required=True)),
        supports_check_mode=True,
    )
    p = module.params
    changed = read_json(p["path"]) != p["content"]
    if changed and not module.check_mode:
        try:
            write_private(p["path"], marker_text(p["content"]))
        except OSError as exc:
            module.fail_json(msg=f"cannot write the update marker {p['path']}: {exc}")
    module.exit_json(changed=changed)


if __name__ == "__main__":
    main()
