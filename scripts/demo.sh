#!/usr/bin/env bash
# The main job: build chaos-monkey and run the demo against a fresh demo node.
# Usage: scripts/demo.sh [extra `chaos-monkey demo` flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-erlang.sh
cargo build --release --quiet --bin chaos-monkey
exec "${CARGO_TARGET_DIR:-target}/release/chaos-monkey" demo "$@"
