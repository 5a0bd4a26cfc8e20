#!/usr/bin/env bash
# Measures what an idle node costs: CPU time and bytes written to disk over
# a window, with the power simulator running. Usage: scripts/idle-cost.sh [SECONDS]
# (default 600: two history flushes). Prints CPU % of one core and bytes
# written per hour, extrapolated from the window.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
CGO_ENABLED=0 go build -o "$dir/safepoint" ./cmd/safepoint
"$dir/safepoint" node --data "$dir/data" --http 127.0.0.1:0 --https 127.0.0.1:0 \
  --municipality 2161 --power sim --log-level warn 2>"$dir/log" &
pid=$!
sleep 10 # past start-up: migrations, certificate, first flush of nothing
tick=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
w0=$(awk '/^write_bytes/ {print $2}' /proc/$pid/io)
sleep "$secs"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
w1=$(awk '/^write_bytes/ {print $2}' /proc/$pid/io)
cpu=$(echo "scale=4; ($u1 + $s1 - $u0 - $s0) / $tick / $secs * 100" | bc)
wph=$(echo "($w1 - $w0) * 3600 / $secs" | bc)
echo "window ${secs} s: CPU ${cpu} % of one core; written $((w1 - w0)) bytes = ${wph} bytes/hour"
