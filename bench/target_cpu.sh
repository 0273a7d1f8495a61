#!/bin/bash
# The target's CPU while chaos-monkey runs against a node of N processes, at
# a few rates, with the monkey's peak memory: a table on stdout.
#
#   cargo build --release -p chaos-monkey
#   bench/target_cpu.sh [N] [CONFIG] [RATES...]
#
# N (default 1000000) idle processes are kept by the chaos_bench application
# (bench/seed_baseline, compiled here). CONFIG is a run config (default: the
# kill / suspend / spawn mix of bench_scale). Each rate runs 60 s; the share
# is read from /proc over seconds 15 to 55 (the steady state: on a big node
# the run's start — first victim list, compiling, the process index's first
# snapshot — takes the first seconds), after the node went quiet again (the
# last run's unloading scans every process), beside the idle share measured
# just before. The node (loopback, random cookie; bench_node.sh) is
# stopped at the end. Flags for the node's emulator go in ERL_FLAGS (for
# example ERL_FLAGS='+sbwt none' to see what its schedulers' busy-waiting costs).
set -euo pipefail
N=${1:-1000000}; CONFIG=${2:-}; shift 2 2>/dev/null || shift $#
RATES=${*:-0.2 10}
source "$(dirname "$0")/bench_node.sh"
start_bench_node "$N"
if [ -z "$CONFIG" ]; then
  CONFIG="$WORK/kss.toml"
  printf '[weights]\nprocess = 2\ntiming = 1\n' > "$CONFIG"
  for op in exit_signal link_crash_chain monitor_kill priority message_delay scheduler_contention sys_suspend; do
    printf '[ops.%s]\nenabled = false\n' "$op" >> "$CONFIG"; done
fi
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$BEAM/stat"; }
share() { echo "scale=1; $1*100/($HZ*$2)" | bc; }
echo "| processes | rate (ops/s) | target CPU idle before | target CPU during the run | monkey peak (VmHWM) | confirmed | clean-up and audit | left behind |"
echo "|---|---|---|---|---|---|---|---|"
for RATE in $RATES; do
  for _ in $(seq 1 60); do a=$(ticks); sleep 2; b=$(ticks); [ $((b-a)) -le $((HZ/10)) ] && break; done
  a=$(ticks); sleep 10; b=$(ticks); IDLE=$(share $((b-a)) 10)
  "$BIN" run --node "$NAME@$HOST" --cookie-file "$WORK/cookie" --config "$CONFIG" --duration 60s --rate "$RATE" --seed 7 \
    --max-kills-per-sec 1000000 --max-app-share 1 --only-app chaos_bench --protect-name 'chaos_bench_*' --keep-going \
    --max-in-flight 256 --report "$WORK/report.json" --no-progress -q >/dev/null 2>&1 &
  P=$!; HWM=0; T0=$(date +%s); a=""; b=""
  while kill -0 $P 2>/dev/null; do
    h=$(awk '/VmHWM/ {print $2}' /proc/$P/status 2>/dev/null || true); [ -n "$h" ] && HWM=$h
    E=$(( $(date +%s) - T0 )); [ -z "$a" ] && [ $E -ge 15 ] && a=$(ticks); [ -z "$b" ] && [ $E -ge 55 ] && b=$(ticks)
    sleep 0.2
  done
  wait $P || true
  read -r CONF CLEAN LEFT < <(python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); lb = r["left_behind"]
left = len(lb["undo_failures"]) + lb["pending_effects"] + lb["pending_ops"] + len(lb["audit"])
print(r["confirmed"], "%.2f" % lb["clean_up_s"], "nothing" if left == 0 else left)
PY
)
  echo "| $N | $RATE | $IDLE% | $(share $((b-a)) 40)% | $((HWM/1024)) MiB | $CONF | $CLEAN s | $LEFT |"
done
