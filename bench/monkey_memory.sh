#!/bin/bash
# The monkey's memory through a long run of the default five-category mix
# against a node of N processes: its RSS every INTERVAL seconds and its peak
# (VmHWM), with the run's totals — a table on stdout.
#
#   cargo build --release -p chaos-monkey
#   bench/monkey_memory.sh [N] [DURATION] [RATE] [INTERVAL]
#
# Defaults: N 100000, DURATION 1h, RATE 300 ops/s, INTERVAL 300 s. The mix
# is the demo profile's default, aimed at the chaos_bench application
# (`--only-app chaos_bench`, its pool's names protected) with the kill caps
# raised as in bench_scale. The node (loopback, random cookie) is stopped
# at the end.
set -euo pipefail
N=${1:-100000}; DURATION=${2:-1h}; RATE=${3:-300}; INTERVAL=${4:-300}
source "$(dirname "$0")/bench_node.sh"
start_bench_node "$N"
"$BIN" run --node "$NAME@$HOST" --cookie-file "$WORK/cookie" --duration "$DURATION" --rate "$RATE" --seed 11 \
  --max-kills-per-sec 1000000 --max-app-share 1 --only-app chaos_bench --protect-name 'chaos_bench_*' --keep-going \
  --report "$WORK/report.json" --no-progress -q >/dev/null 2>"$WORK/stderr" &
P=$!; T0=$(date +%s); NEXT=0
echo "| seconds into the run | monkey RSS | monkey peak so far (VmHWM) |"
echo "|---:|---:|---:|"
while kill -0 $P 2>/dev/null; do
  E=$(( $(date +%s) - T0 ))
  if [ "$E" -ge "$NEXT" ]; then
    read -r RSS HWM < <(awk '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {print r, h}' /proc/$P/status 2>/dev/null || echo "0 0")
    [ "$RSS" != "0" ] && echo "| $E | $((RSS/1024)) MiB | $((HWM/1024)) MiB |"
    NEXT=$((NEXT + INTERVAL))
  fi
  HW=$(awk '/VmHWM/ {print $2}' /proc/$P/status 2>/dev/null || true); [ -n "$HW" ] && PEAK=$HW
  sleep 1
done
set +e; wait $P; CODE=$?; set -e
[ "$CODE" -ne 0 ] && { echo "the run exited $CODE; the end of its log:"; tail -5 "$WORK/stderr"; }
cp "$WORK/report.json" /tmp/monkey_memory_report.json 2>/dev/null && echo "the report: /tmp/monkey_memory_report.json"
python3 - "$WORK/report.json" "$N" "$RATE" "$DURATION" "${PEAK:-0}" "$CODE" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, rate, dur, peak, code = sys.argv[2:]
print()
print("| processes | rate | duration | operations | confirmed | survival | left behind | clean-up and audit | monkey peak | exit |")
print("|---|---|---|---|---|---|---|---|---|---|")
lb = r["left_behind"]
left = len(lb["undo_failures"]) + lb["pending_effects"] + lb["pending_ops"] + len(lb["audit"])
for what in lb["undo_failures"] + [f"audit: {a}" for a in lb["audit"]]:
    print(f"left behind: {what}")
print(f"| {n} | {rate}/s | {dur} | {r['total_ops']} | {r['confirmed']} | {r['survival_rate']:.3f} | {'nothing' if left == 0 else left} | {lb['clean_up_s']:.2f} s | {int(peak)//1024} MiB | {code} |")
PY
