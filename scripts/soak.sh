#!/usr/bin/env bash
# The soak: aggressive chaos against the demo system (default 1 hour), then
# checks that the monkey's memory stayed flat and nothing was left behind.
# Usage: scripts/soak.sh [DURATION]   e.g. scripts/soak.sh 1h, scripts/soak.sh 10m
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-erlang.sh
export CHAOS_SOAK_DURATION="${1:-1h}"
cargo test --release -p chaos-monkey --test soak -- --nocapture
