#!/usr/bin/env bash
# Regenerate docs/report.png, the README's screenshot of a demo run's HTML
# report: a fresh demo node, `chaos-monkey demo --html` (30 s, seed 42), then
# headless Chromium takes the screenshot. Usage: scripts/report-screenshot.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-erlang.sh
scripts/ensure-chromium.sh
cargo build -q -p chaos-monkey
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
./target/debug/chaos-monkey demo --duration "${1:-30s}" --seed 42 --no-progress \
    --name "report_shot_$$" --state-dir "$work/state" \
    --html "$work/report.html" --report "$work/report.json" >"$work/out.txt" 2>&1 || status=$?
# 0: survived; 1: failure modes found (still a report worth showing).
if [ "$status" -gt 1 ] || [ ! -s "$work/report.html" ]; then
    cat "$work/out.txt" >&2
    exit 1
fi
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$work/profile" --window-size=1280,1900 \
    --screenshot="$PWD/docs/report.png" "file://$work/report.html" 2>/dev/null
echo "docs/report.png written ($(head -1 "$work/out.txt" 2>/dev/null || true))"
