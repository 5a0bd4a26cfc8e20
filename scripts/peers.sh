#!/usr/bin/env bash
# Makes sure the real peers the tests talk to are installed: Chromium (browser
# tests), mosquitto (sync), NUT's upsd and dummy-ups (power), promtool (the
# metrics' lint: Debian's prometheus package, which on a machine run by
# systemd also enables its server; `systemctl disable --now prometheus`),
# and the npm packages the browser tests inject (axe-core). Installs what
# is missing when it can (root with apt-get, npm); otherwise prints a loud
# SKIP line per missing peer, and the tests that need it skip, or fail
# under REQUIRE_PEERS=1.
set -u
cd "$(dirname "$0")/.."

declare -A bins=([chromium]=/usr/bin/chromium [mosquitto]=/usr/sbin/mosquitto [nut-server]=/usr/sbin/upsd
  [prometheus]=/usr/bin/promtool)
missing=()
for pkg in "${!bins[@]}"; do
  [ -x "${bins[$pkg]}" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "peers: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/safepoint-apt.log 2>&1; then
    apt-get update -qq >>/tmp/safepoint-apt.log 2>&1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/safepoint-apt.log 2>&1 ||
      echo "peers: apt-get failed, see /tmp/safepoint-apt.log"
  fi
fi

for pkg in "${!bins[@]}"; do
  [ -x "${bins[$pkg]}" ] || echo "SKIP: $pkg not installed (${bins[$pkg]} missing): its tests will skip"
done

# axe-core for the accessibility tests, pinned in ui/browsertest/package-lock.json.
if [ -f ui/browsertest/package.json ] && [ ! -f ui/browsertest/node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null; then
    (cd ui/browsertest && npm ci --no-audit --no-fund --silent >/tmp/safepoint-npm.log 2>&1) ||
      echo "peers: npm ci failed, see /tmp/safepoint-npm.log"
  fi
  [ -f ui/browsertest/node_modules/axe-core/axe.min.js ] || echo "SKIP: axe-core not installed: the accessibility tests will skip"
fi
exit 0
