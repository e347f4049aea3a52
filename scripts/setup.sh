#!/usr/bin/env bash
# One-shot set-up on a fresh Debian bookworm machine (run as root): Debian packages the
# lab needs, a virtualenv in .venv with pbxops and its dev tools. Ansible collections come
# from the `ansible` package on PyPI (Galaxy is not reachable from here). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (the lab needs network namespaces and systemd-nspawn)" >&2
  exit 1
fi

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
if [ -n "$mirror" ] && [ ! -f /etc/apt/sources.list.d/pbxops-backports.sources ]; then
  # wireguard-go (userspace WireGuard; no kernel module here) is in bookworm-backports.
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" >/etc/apt/sources.list.d/pbxops-backports.sources
fi

mapfile -t pkgs < <(grep -v '^\s*#' scripts/apt-packages.txt | awk 'NF {print $1}' | sort -u)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" apt-cacher-ng "* ]] && command -v systemctl >/dev/null; then
    # The lab runs its own apt-cacher-ng on the lab bridge (orchestrator/lab/aptproxy.py);
    # the system-wide service the package starts would listen on every address.
    systemctl disable --now apt-cacher-ng.service >/dev/null 2>&1 || true
  fi
fi
if ! dpkg-query -W -f='${Status}' wireguard-go 2>/dev/null | grep -q "install ok installed"; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports wireguard-go >/dev/null \
    || echo "setup: wireguard-go not installable; VPN lab tests will be skipped" >&2
fi

# `pbxops access grant` on the lab: lab hosts have no Debian mirror, the grant copies the
# WireGuard .debs from here (vpn_debs_dir defaults to this directory while a lab is up).
debs=/var/cache/pbxops-lab/debs
if ! { compgen -G "$debs/wireguard-tools_*.deb" && compgen -G "$debs/wireguard-go_*.deb"; } >/dev/null; then
  mkdir -p "$debs"
  (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root wireguard-tools wireguard-go) \
    || echo "setup: could not fetch the wireguard-tools/wireguard-go .debs into $debs;" \
            "access grant on the lab needs them: cd $debs && apt-get download wireguard-tools wireguard-go" >&2
fi

# Request Tracker 5 for the ticket tests (tests/tickets start their own RT: SQLite database
# and config in a temp dir; the system-wide RT config is never used or changed). Preseeded:
# no database made by dbconfig, no cron jobs, no questions. Adds ~23 s and ~270 packages
# (Perl libraries, exim4 as RT's required mail transport, loopback-only by default).
rt_missing=()
for p in request-tracker5 rt5-db-sqlite rt5-standalone dbconfig-no-thanks; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || rt_missing+=("$p")
done
if [ ${#rt_missing[@]} -gt 0 ]; then
  debconf-set-selections <<'PRESEED'
request-tracker5 request-tracker5/dbconfig-install boolean false
rt5-db-sqlite rt5-db-sqlite/dbconfig-install boolean false
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean false
request-tracker5 request-tracker5/rtname string pbxops.invalid
request-tracker5 request-tracker5/correspondaddress string support@pbxops.invalid
request-tracker5 request-tracker5/commentaddress string support-comment@pbxops.invalid
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1
PRESEED
  echo "setup: installing Request Tracker 5: ${rt_missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${rt_missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[dev]'
# The secret key of this user's pbxops (made once, never replaced: `pbxops secrets init`)
# and the ledger at the current schema (the only other place migrations run: db upgrade).
key=${PBXOPS_SECRET_KEY_FILE:-$HOME/.config/pbxops/secret.key}
if [ ! -e "$key" ] && [ -z "${PBXOPS_SECRET_KEY:-}" ]; then
  .venv/bin/pbxops secrets init
fi
.venv/bin/pbxops db upgrade
echo "setup: done. Try: .venv/bin/pbxops fleet entitled"
