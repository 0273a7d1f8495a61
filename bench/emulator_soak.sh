#!/bin/bash
# A soak of the default five-category mix against a node of N processes,
# with the node's core dumps on: did the node's emulator survive?
#
#   cargo build --release -p chaos-monkey
#   bench/emulator_soak.sh LABEL [N] [RATE] [DURATION] [extra chaos-monkey run flags...]
#
# Defaults: N 1000000, RATE 300 ops/s, DURATION 8m. Writes the report, the
# events file (every operation, one JSON line) and the monkey's stderr to
# /tmp/emulator_soak/LABEL/, and prints one line: the run's exit code and whether
# the node's OS process was still alive when the run ended. A node that
# died of a signal leaves a core where /proc/sys/kernel/core_pattern says
# (set it to an absolute path first); bench/jit_stack.py names the Erlang
# functions on the crashing process's stack. Two soaks at once (say 10^6
# and 10^5 processes) load the 2-core bench machine as the crash needed.
set -uo pipefail
LABEL=$1; N=${2:-1000000}; RATE=${3:-300}; DURATION=${4:-8m}; shift $(( $# < 4 ? $# : 4 ))
ulimit -c unlimited
source "$(dirname "$0")/bench_node.sh"
start_bench_node "$N"
OUT=/tmp/emulator_soak/$LABEL; mkdir -p "$OUT"
"$BIN" run --node "$NAME@$HOST" --cookie-file "$WORK/cookie" --duration "$DURATION" --rate "$RATE" --seed "${SEED:-11}" \
  --max-kills-per-sec 1000000 --max-app-share 1 --only-app chaos_bench --protect-name 'chaos_bench_*' --keep-going \
  --report "$OUT/report.json" --events "$OUT/events.jsonl" --no-progress -q "$@" >/dev/null 2>"$OUT/stderr"
CODE=$?
echo "$LABEL: $N processes, $RATE ops/s, $DURATION: exit $CODE; node OS process $BEAM alive at the end: $(kill -0 "$BEAM" 2>/dev/null && echo yes || echo no)"
