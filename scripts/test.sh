#!/usr/bin/env bash
# Every test: unit tests and tests against real Erlang nodes that the tests
# start (unique names, random cookies, loopback only) and always stop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-erlang.sh
cargo test --workspace --all-targets "$@"
