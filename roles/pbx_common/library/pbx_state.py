#!/usr/bin/python3
"""The PBX state in one call: version of record, running check, service state, SIP answer,
configuration digest, the marker of the last update and the pinned packages' versions.
Read-only. Used by pbx_check, pbx_update (before and after) and os_upgrade."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pbx_host import (
    config_digest,
    installed_pins,
    read_json,
    service_state,
    shell,
    sip_answer,
    trimmed,
    version,
)

DOCUMENTATION = r"""
module: pbx_state
short_description: Read the state of a PBX host in one call
options:
  package: {type: str, required: true, description: package whose dpkg version is the version of record}
  version_command: {type: str, default: '', description: profile command printing the version instead}
  running_command: {type: str, default: '', description: profile command proving the daemon runs the installed build}
  service: {type: str, required: true, description: systemd unit of the PBX}
  config_dir: {type: str, required: true, description: directory the configuration digest covers}
  sip_address: {type: str, required: true, description: address the host asks SIP OPTIONS on}
  sip_port: {type: int, default: 5060, description: SIP port}
  sip_rounds: {type: int, default: 1, description: rounds of SIP OPTIONS (2 s apart, each up to 3 x 2 s) until a 200}
  marker: {type: str, default: '', description: marker file of the last update ('' not read)}
  packages: {type: list, elements: str, default: [], description: pinned packages to read}
  publish: {type: str, default: '', description: also set the results as facts PUBLISH_<name> (no set_fact task)}
"""

RETURN = r"""
version: {type: str, description: the version of record ('' not installed)}
running: {type: str, description: the running check's output ('' it failed)}
service: {type: str, description: systemd ActiveState}
sip_status: {type: int, description: SIP status code (0 no answer)}
server_header: {type: str, description: SIP Server or User-Agent header}
config_digest: {type: str, description: digest of config_dir ('' unreadable)}
config_error: {type: str, description: why the digest could not be computed}
last_update: {type: dict, description: the marker's content ({} none)}
pinned: {type: list, description: PACKAGE=VERSION of the installed pinned packages}
"""


def main():
    module = AnsibleModule(
        argument_spec=dict(
            package=dict(type="str", required=True),
            version_command=dict(type="str", default=""),
            running_command=dict(type="str", default=""),
            service=dict(type="str", required=True),
            config_dir=dict(type="str", required=True),
            sip_address=dict(type="str", required=True),
            sip_port=dict(type="int", default=5060),
            sip_rounds=dict(type="int", default=1),
            marker=dict(type="str", default=""),
            packages=dict(type="list", elements="str", default=[]),
            publish=dict(type="str", default=""),
        ),
        supports_check_mode=True,  # reads only
    )
    p = module.params
    # SIP first: after a restart the others describe the PBX once it answers
    answer = sip_answer(p["sip_address"], p["sip_port"], p["sip_rounds"])
    digest, config_error = config_digest(p["config_dir"])
    state = {
        "version": version(p["package"], p["version_command"]),
        "running": trimmed(shell(p["running_command"])) if p["running_command"] else "",
        "service": service_state(p["service"]),
        "sip_status": answer["status"],
        "server_header": answer["server"],
        "config_digest": digest,
        "config_error": config_error,
        "last_update": read_json(p["marker"]) if p["marker"] else {},
        "pinned": installed_pins(p["packages"]),
    }
    facts = {f"{p['publish']}_{name}": value for name, value in state.items()} if p["publish"] else {}
    module.exit_json(changed=False, ansible_facts=facts, **state)


if __name__ == "__main__":
    main()
