#!/bin/sh
# Turns a debootstrapped Debian sid with the real `asterisk` package into the lab's Asterisk
# host image; runs chrooted in the new rootfs. Part of the Asterisk image recipe: changing
# this file rebuilds the cached image (orchestrator/lab/asterisk.py).
set -eu

# The ops user Ansible logs in as; its key is added per host at `lab up`.
useradd --create-home --shell /bin/bash pbxops
echo 'pbxops ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/pbxops
chmod 0440 /etc/sudoers.d/pbxops

# sshd: per-host keys are generated at `lab up`; keys only.
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/pbxops-lab.conf <<'CONF'
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CONF

# apt: the lab repository is the only source (written at `lab up`, signed-by the lab key).
: > /etc/apt/sources.list
rm -f /etc/apt/sources.list.d/*
mkdir -p /etc/apt/keyrings
apt-get clean
rm -rf /var/lib/apt/lists/*
echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90pbxops-lab

# No timers that grab the dpkg lock, no console getty; a small volatile journal.
systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
    console-getty.service >/dev/null 2>&1 || true
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=8M\n' \
    > /etc/systemd/journald.conf.d/pbxops-lab.conf

# Provisioning endpoint for phones: lighttpd on port 80, no directory listings.
mkdir -p /srv/provisioning
sed -i 's#^server.document-root.*#server.document-root = "/srv/provisioning"#' \
    /etc/lighttpd/lighttpd.conf
rm -f /etc/lighttpd/conf-enabled/*dirlisting* /var/www/html/index.lighttpd.html

# Asterisk: a minimal, deterministic configuration instead of Debian's samples. PJSIP on UDP
# 5060; requests from unknown peers land on the `anonymous` endpoint (so SIP OPTIONS are
# answered by PJSIP and a lab call reaches the dialplan); every call is answered and held
# until the caller hangs up (drain tests). Only root (and the ops user via sudo) use
# `asterisk -rx`.
find /etc/asterisk -mindepth 1 -delete
cat > /etc/asterisk/asterisk.conf <<'CONF'
[options]
verbose = 0
debug = 0
CONF
cat > /etc/asterisk/modules.conf <<'CONF'
[modules]
autoload = yes
; nothing the lab uses, and noisy or slow without configuration
noload = chan_iax2.so
noload = chan_unistim.so
noload = chan_mgcp.so
noload = chan_skinny.so
noload = chan_ooh323.so
noload = res_phoneprov.so
noload = res_pjsip_phoneprov_provider.so
noload = cdr_custom.so
noload = cdr_csv.so
noload = cel_custom.so
noload = res_hep.so
noload = res_hep_pjsip.so
noload = res_hep_rtcp.so
noload = pbx_dundi.so
noload = pbx_ael.so
noload = pbx_lua.so
noload = res_calendar.so
noload = res_xmpp.so
noload = chan_motif.so
noload = res_smdi.so
noload = res_statsd.so
noload = res_snmp.so
CONF
cat > /etc/asterisk/logger.conf <<'CONF'
[general]
[logfiles]
console => notice,warning,error
messages.log => notice,warning,error
CONF
cat > /etc/asterisk/pjsip.conf <<'CONF'
[global]
type = global
endpoint_identifier_order = ip,username,anonymous

[transport-udp]
type = transport
protocol = udp
bind = 0.0.0.0:5060

[anonymous]
type = endpoint
context = lab-in
disallow = all
allow = ulaw,alaw
CONF
cat > /etc/asterisk/extensions.conf <<'CONF'
[general]
static = yes
writeprotect = yes

[lab-in]
; Every call is answered and held until the caller hangs up (at most an hour).
exten => _[a-z0-9].,1,Answer()
 same => n,Wait(3600)
 same => n,Hangup()
CONF
chown -R asterisk:asterisk /etc/asterisk
chmod 0750 /etc/asterisk
chmod 0640 /etc/asterisk/*.conf
systemctl enable asterisk.service >/dev/null 2>&1 || true

# Identity is per host: written at `lab up`.
: > /etc/machine-id
rm -f /etc/hostname
