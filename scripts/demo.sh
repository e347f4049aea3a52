#!/usr/bin/env bash
# The demo: the contract book, entitlement, a real lab with one host per PBX of the demo
# book, a real update wave across every entitled customer, and Request Tracker on the
# lab's provider side with an incident becoming a ticket. Run as root after `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PBXOPS_STATE_DIR=${PBXOPS_STATE_DIR:-$PWD/out/demo-state}
export PBXOPS_SMTP_PORT=${PBXOPS_SMTP_PORT:-1}   # no mail server in the demo: the wave records "not mailed"
# The demo's secret key, made once (never beside the ledger it protects) and kept across runs.
export PBXOPS_SECRET_KEY_FILE=${PBXOPS_SECRET_KEY_FILE:-$PWD/out/demo-key/secret.key}
[ -e "$PBXOPS_SECRET_KEY_FILE" ] || pbxops secrets init
pbxops db upgrade >/dev/null   # a demo ledger from an older checkout is brought up to date

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Validate the contract book"
pbxops fleet validate
step "2. Who is entitled to software updates today, and why"
pbxops fleet entitled
step "3. Bring up the lab: one real host per PBX system (systemd, sshd, apt, SIP)"
pbxops lab up --book inventory/demo
pbxops lab status
step "4. Plan the wave for release pbx-18.1 on the LabPBX stand-ins (canary first, windows, exclusions)"
# (alpenblick and harbor run real Asterisk: their wave is step 7)
pbxops wave plan --release pbx-18.1 $(for c in provider-lab bergmann clinic-nord dockside eisenwerk \
    fjord gruen isar jade kanzlei-roth lumen; do printf -- '--customers %s ' "$c"; done)
wave=$(pbxops wave status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
step "5. Run wave $wave now (--ignore-windows: the demo cannot wait for tonight's windows)"
pbxops wave run "$wave" --ignore-windows --call-poll-seconds 2 || true
step "6. The result per host and contract"
pbxops wave report "$wave"
step "7. A wave on the real Asterisk PBXs (alpenblick-pbx, harbor-pbx): release asterisk-22.10-lab1"
pbxops wave plan --release asterisk-22.10-lab1 --customers alpenblick --customers harbor
awave=$(pbxops wave status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
pbxops wave run "$awave" --ignore-windows --call-poll-seconds 2 || true
pbxops wave report "$awave"
step "8. The SIP answer of every lab host"
pbxops lab status
step "9. Request Tracker on the provider side of the lab: an incident becomes a ticket"
# RT 5 on the lab's provider address (10.209.0.1), data in the lab run dir; its API
# password is generated, kept encrypted with the demo's key and piped into `tickets login`
# (never shown). The ticket part has a ledger of its own, new each run, and a ticket
# instance name of its own, so tickets of an earlier run are never taken for this one's.
pbxops lab rt up
rt_url=$(pbxops lab rt status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
tickets_state=$PWD/out/demo-tickets-state
rm -rf "$tickets_state"
tk() {
    PBXOPS_STATE_DIR=$tickets_state PBXOPS_TICKET_URL=$rt_url PBXOPS_TICKET_USER=pbxops \
        PBXOPS_TICKET_INSTANCE=$ticket_instance pbxops "$@"
}
ticket_instance=demo-$(date -u +%Y%m%d%H%M%S)
tk db upgrade >/dev/null
pbxops lab rt password | tk tickets login --password-stdin
tk incident open clinic-nord "Demo: SIP trunk down" --host clinic-nord-pbx --no-mail
tk tickets sync --no-mail
tk incident ack INC-000001
tk tickets sync --no-mail
tk tickets status
echo
# The demo keeps its own state (ledger, runs) apart from yours: say exactly how to see it.
see="PBXOPS_STATE_DIR=$PBXOPS_STATE_DIR${PBXOPS_SECRET_KEY_FILE:+ PBXOPS_SECRET_KEY_FILE=$PBXOPS_SECRET_KEY_FILE}"
echo "The demo's ledger is its own ($PBXOPS_STATE_DIR), not the one pbxops uses by default."
echo "See the demo's waves with:"
echo "  $see .venv/bin/pbxops wave status"
echo "  $see .venv/bin/pbxops wave report $wave"
echo "The demo's tickets: $rt_url (RT user pbxops; its password stays encrypted), and"
echo "  PBXOPS_STATE_DIR=$tickets_state${PBXOPS_SECRET_KEY_FILE:+ PBXOPS_SECRET_KEY_FILE=$PBXOPS_SECRET_KEY_FILE} \\"
echo "  PBXOPS_TICKET_URL=$rt_url PBXOPS_TICKET_USER=pbxops PBXOPS_TICKET_INSTANCE=$ticket_instance \\"
echo "  .venv/bin/pbxops tickets status"
echo "The lab stays up for you to look around: pbxops lab ssh clinic-nord-pbx; make lab-down when done"
echo "(it stops the lab's RT too)."
