#!/usr/bin/env bash
# Opt-in real-system test: chaos-monkey against a private RabbitMQ node
# (Debian's rabbitmq-server), loopback only. Not part of scripts/test.sh.
#
#   scripts/test-real-systems.sh               # default profile, ${CM_RABBIT_DURATION:-10m}
#   scripts/test-real-systems.sh --collapse    # also: aggressive + --allow-collapse, 60 s, fresh node
#
# Environment: CM_RABBIT_DURATION (10m), CARGO_TARGET_DIR (target/),
# CM_RABBIT_OUT (where reports are kept; default a fresh dir under /tmp),
# CM_RABBIT_DEBUG=1 builds the debug binary instead of release,
# CM_RABBIT_CONFIG=chaos.toml is passed to the default-profile run as --config,
# CM_RABBIT_RUN_ARGS="--keep-going ..." adds flags to it (split on spaces).
# RabbitMQ's own log of each instance is kept in the output dir.
#
# Exit status: 0 when RabbitMQ came through the default-profile run (node up,
# `rabbit` running, AMQP port answering, no supervisor_collapse); 1 otherwise.
# The volume thresholds (>= 5000 operations, >= 150 kills) are printed as
# met / NOT MET but do not fail the script. The cookie is never printed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

COLLAPSE=0
for arg in "$@"; do
    case "$arg" in
        --collapse) COLLAPSE=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--collapse]" >&2; exit 2 ;;
    esac
done

DURATION="${CM_RABBIT_DURATION:-10m}"
MIN_OPS=5000
MIN_KILLS=150

# --- prerequisites ----------------------------------------------------------
scripts/ensure-erlang.sh

if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    echo "RabbitMQ not found: installing rabbitmq-server ..." >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "error: rabbitmq-server is missing and we are not root; install it first" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq rabbitmq-server >/dev/null
    # The package may start the system service; only our own instances run.
    $SUDO systemctl stop rabbitmq-server >/dev/null 2>&1 \
        || $SUDO service rabbitmq-server stop >/dev/null 2>&1 || true
fi
for tool in jq; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is needed" >&2; exit 1; }
done

# Debian's /usr/sbin wrappers `su` to the rabbitmq user and reset HOME and
# the working directory; call the real scripts so our environment holds.
RMQ_BIN=/usr/lib/rabbitmq/bin
[ -x "$RMQ_BIN/rabbitmq-server" ] || RMQ_BIN="$(dirname "$(readlink -f "$(command -v rabbitmq-server)")")"

# --- build ------------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "${CM_RABBIT_DEBUG:-0}" = 1 ]; then
    cargo build -q -p chaos-monkey
    CM="$TARGET_DIR/debug/chaos-monkey"
else
    cargo build -q --release -p chaos-monkey
    CM="$TARGET_DIR/release/chaos-monkey"
fi
[ -x "$CM" ] || { echo "error: $CM not built" >&2; exit 1; }

OUT="${CM_RABBIT_OUT:-$(mktemp -d /tmp/cm-rabbit-out.XXXXXX)}"
mkdir -p "$OUT"
echo "reports go to $OUT"

# --- one private RabbitMQ instance -----------------------------------------
# Sets NODE, COOKIE, AMQP_PORT, RMQ_DIR, RMQ_PID, RMQ_OSPID.
NODE="" RMQ_TAG="" RMQ_DIR="" RMQ_PID="" RMQ_OSPID="" COOKIE="" AMQP_PORT=""

free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null \
            && ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"; return 0
        fi
    done
    echo "error: no free port found" >&2; return 1
}

# Runs a RabbitMQ CLI tool against our node, with our HOME (and so our cookie).
rmq() {
    local tool="$1"; shift
    HOME="$RMQ_DIR" RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf" \
        "$RMQ_BIN/$tool" -n "$NODE" "$@"
}

start_rabbit() {
    local tag="$1"
    RMQ_TAG="$tag"
    RMQ_DIR="$(mktemp -d "/tmp/cm-rabbit-$tag.XXXXXX")"
    chmod 700 "$RMQ_DIR"
    NODE="cmrabbit$$$tag@localhost"
    COOKIE="$RMQ_DIR/.erlang.cookie"
    (umask 077; head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f0-9' 'A-Z' | head -c 20 > "$COOKIE")
    chmod 600 "$COOKIE"
    AMQP_PORT="$(free_port)"
    local dist_port; dist_port="$(free_port)"
    while [ "$dist_port" = "$AMQP_PORT" ]; do dist_port="$(free_port)"; done
    mkdir -p "$RMQ_DIR/mnesia" "$RMQ_DIR/log" "$RMQ_DIR/plugins-expand"
    : > "$RMQ_DIR/rabbitmq-env.conf"          # not /etc/rabbitmq/rabbitmq-env.conf
    echo '[].' > "$RMQ_DIR/enabled_plugins"   # no plugins: no management listener
    cat > "$RMQ_DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
log.console = false
log.file.level = info
EOF
    # Debian's rabbitmq-server (3.10) does not refuse root: it runs as us.
    (
        export HOME="$RMQ_DIR"
        export RABBITMQ_NODENAME="$NODE"
        export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        export RABBITMQ_NODE_PORT="$AMQP_PORT"
        export RABBITMQ_DIST_PORT="$dist_port"
        export RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
        export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
        export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
        export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
        export RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
        export RABBITMQ_LOG_BASE="$RMQ_DIR/log"
        export RABBITMQ_PLUGINS_EXPAND_DIR="$RMQ_DIR/plugins-expand"
        export RABBITMQ_PID_FILE="$RMQ_DIR/rabbit.pid"
        export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        export ERL_EPMD_ADDRESS=127.0.0.1
        cd "$RMQ_DIR"
        exec "$RMQ_BIN/rabbitmq-server"
    ) > "$RMQ_DIR/server.out" 2>&1 &
    RMQ_PID=$!
    echo "starting RabbitMQ $NODE (AMQP 127.0.0.1:$AMQP_PORT, distribution 127.0.0.1:$dist_port) ..."
    local deadline=$(( SECONDS + 120 ))
    until rmq rabbitmqctl -q --timeout 10 await_startup >/dev/null 2>&1; do
        if ! kill -0 "$RMQ_PID" 2>/dev/null; then
            echo "error: rabbitmq-server exited during start-up; its output:" >&2
            tail -n 30 "$RMQ_DIR/server.out" >&2 || true
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "error: RabbitMQ did not start within 120 s; its output:" >&2
            tail -n 30 "$RMQ_DIR/server.out" >&2 || true
            return 1
        fi
        sleep 1
    done
    RMQ_OSPID="$(rmq rabbitmqctl -q eval 'list_to_integer(os:getpid()).' 2>/dev/null || true)"
    # Loopback only: the distribution listener must not be on a wildcard address.
    if ss -Hltn "sport = :$dist_port" | awk '{print $4}' | grep -qv '^127\.0\.0\.1:'; then
        echo "error: the distribution listens beyond loopback:" >&2
        ss -Hltn "sport = :$dist_port" >&2
        return 1
    fi
    echo "RabbitMQ $(rmq rabbitmqctl -q eval 'element(2, application:get_key(rabbit, vsn)).' 2>/dev/null | tr -d '"') is up (OS pid ${RMQ_OSPID:-?})"
}

stop_rabbit() {
    [ -n "$RMQ_DIR" ] || return 0
    if [ -n "$NODE" ]; then
        rmq rabbitmqctl -q --timeout 30 stop >/dev/null 2>&1 || true
    fi
    if [ -n "$RMQ_PID" ] && kill -0 "$RMQ_PID" 2>/dev/null; then
        kill -TERM "$RMQ_PID" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$RMQ_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$RMQ_PID" 2>/dev/null || true
    fi
    # The beam itself, by the pid it told us (never by name).
    if [ -n "$RMQ_OSPID" ] && kill -0 "$RMQ_OSPID" 2>/dev/null \
        && grep -q "$NODE" "/proc/$RMQ_OSPID/cmdline" 2>/dev/null; then
        kill -KILL "$RMQ_OSPID" 2>/dev/null || true
    fi
    wait "$RMQ_PID" 2>/dev/null || true
    # Keep RabbitMQ's log (no cookie in it) next to the reports.
    if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
        cat "$RMQ_DIR"/log/*.log > "$OUT/rabbit-$RMQ_TAG.log" 2>/dev/null || true
        cp "$RMQ_DIR/server.out" "$OUT/rabbit-$RMQ_TAG.out" 2>/dev/null || true
    fi
    rm -rf "$RMQ_DIR"
    RMQ_DIR="" RMQ_PID="" RMQ_OSPID="" NODE=""
}
trap stop_rabbit EXIT
trap 'exit 130' INT TERM

node_up()       { rmq rabbitmqctl -q --timeout 15 eval 'ok.' >/dev/null 2>&1; }
rabbit_running() {
    [ "$(rmq rabbitmqctl -q --timeout 15 eval \
        'lists:keymember(rabbit, 1, application:which_applications()).' 2>/dev/null)" = "true" ]
}
amqp_answers()  { (exec 3<>"/dev/tcp/127.0.0.1/$AMQP_PORT") 2>/dev/null; }
yn() { if "$@"; then echo yes; else echo NO; fi; }
met() { if [ "$1" -ge "$2" ]; then echo "met (>= $2)"; else echo "NOT MET (< $2)"; fi; }

# --- 1. default profile -----------------------------------------------------
start_rabbit a
VERSION="$(rmq rabbitmqctl -q eval 'element(2, application:get_key(rabbit, vsn)).' | tr -d '"')"

"$CM" inspect --node "$NODE" --cookie-file "$COOKIE" --json > "$OUT/inspect.json"
"$CM" inspect --node "$NODE" --cookie-file "$COOKIE" > "$OUT/inspect.txt"
echo "inspect: $OUT/inspect.json, $OUT/inspect.txt"
grep -n -A1 'rabbit_sup\b' "$OUT/inspect.txt" | head -n 4 || true

EXTRA=()
[ -z "${CM_RABBIT_CONFIG:-}" ] || EXTRA=(--config "$CM_RABBIT_CONFIG")
# shellcheck disable=SC2206
[ -z "${CM_RABBIT_RUN_ARGS:-}" ] || EXTRA+=(${CM_RABBIT_RUN_ARGS})
echo "chaos-monkey run: default profile, $DURATION, seed 1 ${EXTRA[*]:-}..."
set +e
"$CM" run --node "$NODE" --cookie-file "$COOKIE" --duration "$DURATION" --seed 1 ${EXTRA[@]+"${EXTRA[@]}"} \
    --report "$OUT/report.json" --events "$OUT/events.jsonl" --no-progress \
    > "$OUT/run.txt" 2> "$OUT/run.err"
RUN_RC=$?
set -e

UP=$(yn node_up)
RABBIT=$(yn rabbit_running)
AMQP=$(yn amqp_answers)

R="$OUT/report.json"
if [ ! -s "$R" ]; then
    echo "error: no report written (chaos-monkey exit $RUN_RC); stderr:" >&2
    tail -n 20 "$OUT/run.err" >&2
    exit 1
fi
TOTAL=$(jq '.total_ops' "$R")
CONFIRMED=$(jq '.confirmed' "$R")
SKIPPED=$(jq '.skipped' "$R")
ERRORS=$(jq '.errors' "$R")
KILLS=$(jq '.kills' "$R")
COLLAPSES=$(jq '[.failure_modes[] | select(.kind == "supervisor_collapse")] | length' "$R")
BUDGET_SKIPS=$(jq '[.skip_reasons[] | select(.reason | test("restart budget"; "i")) | .count] | add // 0' "$R")
SPOF_SKIPS=$(jq '[.skip_reasons[] | select(.reason | test("single point of failure"; "i")) | .count] | add // 0' "$R")
MODES=$(jq -r '[.failure_modes[] | .kind] | group_by(.) | map("\(.[0])×\(length)") | join(", ") | if . == "" then "none" else . end' "$R")

echo
echo "== RabbitMQ $VERSION, default profile, $DURATION (chaos-monkey exit $RUN_RC) =="
printf '%-34s %s\n' \
    "chaos ran for" "$(jq -r '"\(.duration_s | floor) s of \(.planned_duration_s | floor) s planned"' "$R")" \
    "circuit breaker" "$(jq -r '.breaker_tripped // "not tripped" | .[0:110]' "$R")" \
    "operations" "$TOTAL  — $(met "$TOTAL" "$MIN_OPS")" \
    "confirmed" "$CONFIRMED" \
    "skipped / errors" "$SKIPPED ($(( TOTAL > 0 ? SKIPPED * 100 / TOTAL : 0 ))%) / $ERRORS" \
    "kills" "$KILLS  — $(met "$KILLS" "$MIN_KILLS")" \
    "supervisor_collapse" "$COLLAPSES" \
    "skips: restart budget" "$BUDGET_SKIPS" \
    "skips: single point of failure" "$SPOF_SKIPS" \
    "failure modes" "$MODES" \
    "node up after" "$UP" \
    "rabbit running after" "$RABBIT" \
    "AMQP 127.0.0.1:$AMQP_PORT answers" "$AMQP" \
    "verdict" "$(jq -r '.verdict' "$R")"
echo "top skip reasons:"
jq -r '.skip_reasons | sort_by(-.count) | .[:8][] | "  \(.count)\t\(.op): \(.reason)"' "$R"
if [ "$ERRORS" -gt 0 ]; then
    echo "error reasons:"
    jq -r '.error_reasons | sort_by(-.count) | .[:8][] | "  \(.count)\t\(.op): \(.reason)"' "$R"
fi

FAIL=0
[ "$UP" = yes ] || { echo "FAIL: the node went down"; FAIL=1; }
[ "$RABBIT" = yes ] || { echo "FAIL: the rabbit application is not running"; FAIL=1; }
[ "$AMQP" = yes ] || { echo "FAIL: the AMQP port does not answer"; FAIL=1; }
[ "$COLLAPSES" -eq 0 ] || { echo "FAIL: supervisor_collapse reported"; FAIL=1; }
[ "$RUN_RC" -ne 4 ] || { echo "FAIL: chaos-monkey saw the node go down (exit 4)"; FAIL=1; }
stop_rabbit

# --- 2. optional: aggressive, --allow-collapse, on a fresh node ------------
if [ "$COLLAPSE" = 1 ]; then
    start_rabbit b
    echo "chaos-monkey run: aggressive, --allow-collapse, 60s, seed 1 ..."
    set +e
    "$CM" run --node "$NODE" --cookie-file "$COOKIE" --duration 60s --seed 1 \
        --profile aggressive --allow-collapse \
        --report "$OUT/collapse-report.json" --events "$OUT/collapse-events.jsonl" --no-progress \
        > "$OUT/collapse-run.txt" 2> "$OUT/collapse-run.err"
    C_RC=$?
    set -e
    echo "== aggressive --allow-collapse (chaos-monkey exit $C_RC) =="
    # The report has every prediction (an operation the node's halt cut
    # short carries its own only in the report, not in the events file).
    CR="$OUT/collapse-report.json"
    NPRED=0
    [ -s "$CR" ] && NPRED=$(jq '.supervision.predictions // [] | length' "$CR")
    if [ "$NPRED" -gt 0 ]; then
        echo "predictions (made before each kill past a budget):"
        jq -r '.supervision.predictions[] |
               "  at \(.t_ms) ms, \(.operation): \(.predicted)",
               "    -> " + (if .came_true == true then "came true" + (if .after_ms then " after \(.after_ms) ms" else "" end)
                           elif .came_true == false then "did NOT come true within 10 s"
                           else "NOT checked: \(.unchecked // "no reason given")" end)' "$CR"
        echo "predictions: $NPRED in all, came true: $(jq '[.supervision.predictions[] | select(.came_true == true)] | length' "$CR"), did not: $(jq '[.supervision.predictions[] | select(.came_true == false)] | length' "$CR"), not checked: $(jq '[.supervision.predictions[] | select(.came_true == null)] | length' "$CR")"
    else
        echo "no prediction recorded (no kill went past a restart budget)"
    fi
    if [ -s "$OUT/collapse-report.json" ]; then
        jq -r '"kills \(.kills), ops \(.total_ops), failure modes: \([.failure_modes[].kind] | group_by(.) | map("\(.[0])×\(length)") | join(", "))", "verdict: \(.verdict)"' "$OUT/collapse-report.json"
    fi
    echo "after: node up $(yn node_up), rabbit running $(yn rabbit_running), AMQP $(yn amqp_answers)"
    stop_rabbit
fi

echo
if [ "$FAIL" -eq 0 ]; then echo "RabbitMQ came through: OK"; else echo "RabbitMQ real-system test: FAILED"; fi
exit "$FAIL"
