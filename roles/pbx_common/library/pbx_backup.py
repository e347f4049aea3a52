#!/usr/bin/python3
"""Back up the PBX configuration and mark the update as started, in one call: the digest
(refused when the configuration cannot be read), a 0600 tar.gz in the 0700 backup directory
named after the version and the digest, then the host's update marker (0600)."""

from __future__ import annotations

import os
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pbx_host import (
    config_digest,
    marker_text,
    private_dir,
    replaced_privately,
    write_private,
)

DOCUMENTATION = r"""
module: pbx_backup
short_description: Archive the PBX configuration and write the update marker
options:
  config_dir: {type: str, required: true, description: the configuration directory}
  backup_dir: {type: str, required: true, description: where archives are kept (0700)}
  version_before: {type: str, required: true, description: version in the archive's name}
  marker: {type: str, required: true, description: the host's update marker file}
  marker_content: {type: dict, required: true, description: what the marker records besides the backup}
"""

RETURN = r"""
backup: {type: str, description: path of the archive on the host}
config_digest: {type: str, description: digest of the configuration archived}
marker_content: {type: dict, description: what was written to the marker}
"""


def archive(config_dir, dest):
    """config_dir as DIRNAME/... in a gzip tar (extracted into config_dir's parent). A
    config_dir that is a symlink is followed (its contents are archived); symlinks inside
    it stay symlinks. No temporary file is left behind on failure."""
    with replaced_privately(dest) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        tar.add(os.path.realpath(config_dir), arcname=os.path.basename(config_dir.rstrip("/")))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="str", required=True),
            backup_dir=dict(type="str", required=True),
            version_before=dict(type="str", required=True),
            marker=dict(type="str", required=True),
            marker_content=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    digest, error = config_digest(p["config_dir"])
    if not digest:
        module.fail_json(msg="cannot compute the digest of {}: {}".format(p["config_dir"], error))
    dest = os.path.join(p["backup_dir"], "config-{}-{}.tgz".format(p["version_before"], digest[:12]))
    content = dict(p["marker_content"], version_before=p["version_before"], backup=dest,
                   config_digest_before=digest)
    if not module.check_mode:
        try:
            private_dir(p["backup_dir"])
            archive(p["config_dir"], dest)
        except (OSError, tarfile.TarError) as exc:
            module.fail_json(msg=f"cannot archive {p['config_dir']} into {p['backup_dir']}: {exc}")
        try:
            write_private(p["marker"], marker_text(content))
        except OSError as exc:
            module.fail_json(msg=f"cannot write the update marker {p['marker']}: {exc}")
    module.exit_json(changed=True, backup=dest, config_digest=digest, marker_content=content)


if __name__ == "__main__":
    main()
