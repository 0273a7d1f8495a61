#!/usr/bin/env bash
# Every test: unit tests and tests against real Erlang nodes that the tests
# start (unique names, random cookies, loopback only) and always stop.
# Ends with one summary line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-erlang.sh
scripts/ensure-chromium.sh
scripts/ensure-release-tools.sh
scripts/ensure-rabbitmq.sh
log=$(mktemp)
# The runs the tests make are recorded in a history of their own, never the user's.
export XDG_DATA_HOME
XDG_DATA_HOME=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$XDG_DATA_HOME"' EXIT
status=0
cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
