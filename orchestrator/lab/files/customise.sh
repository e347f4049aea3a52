#!/bin/sh
# Turns a debootstrapped Debian into the lab's host image; runs chrooted in the new rootfs.
# Part of the rootfs recipe: changing this file rebuilds the cached image.
set -eu

# The ops user Ansible logs in as; its key is added per host at `lab up`.
useradd --create-home --shell /bin/bash pbxops
echo 'pbxops ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/pbxops
chmod 0440 /etc/sudoers.d/pbxops

# sshd: per-host keys are generated at `lab up`; keys only.
rm -f /etc/ssh/ssh_host_*
cat > /etc/ssh/sshd_config.d/pbxops-lab.conf <<'CONF'
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CONF

# apt: the lab repository is the only source (written at `lab up`, signed-by the lab key).
: > /etc/apt/sources.list
mkdir -p /etc/apt/keyrings
apt-get clean
rm -rf /var/lib/apt/lists/*
echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90pbxops-lab

# Services: the lab's PBX runs as labpbx.service; no timers that grab the dpkg lock.
systemctl disable kamailio.service
systemctl mask kamailio.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_reap.service console-getty.service
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=8M\n' \
    > /etc/systemd/journald.conf.d/pbxops-lab.conf

# Provisioning endpoint for phones: lighttpd on port 80, no directory listings.
mkdir -p /srv/provisioning
sed -i 's#^server.document-root.*#server.document-root = "/srv/provisioning"#' \
    /etc/lighttpd/lighttpd.conf
rm -f /etc/lighttpd/conf-enabled/*dirlisting* /var/www/html/index.lighttpd.html

# Identity is per host: written at `lab up`.
: > /etc/machine-id
rm -f /etc/hostname
