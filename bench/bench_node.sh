# Sourced by the bench scripts: start_bench_node N starts a loopback node
# (random cookie, unique -sname) running the chaos_bench application
# (bench/seed_baseline, compiled here) with N idle processes, and stops it
# and removes its files when the script exits. Sets NAME, HOST, WORK (its
# scratch folder: the cookie is $WORK/cookie), BEAM (its OS pid), ROOT and
# BIN (the release build of chaos-monkey).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/chaos-monkey}

start_bench_node() {
  local n=$1
  WORK=$(mktemp -d); NAME="bench_node_$$"; HOST=$(hostname -s)
  trap 'erl -sname stop_$$ -setcookie "$(cat $WORK/cookie)" -noshell -eval "rpc:call('"'"'$NAME@$HOST'"'"', erlang, halt, []), halt()." >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
  erlc -o "$WORK" "$ROOT"/bench/seed_baseline/*.erl && cp "$ROOT/bench/seed_baseline/chaos_bench.app" "$WORK/"
  head -c 18 /dev/urandom | base64 | tr -dc a-zA-Z0-9 > "$WORK/cookie"; chmod 600 "$WORK/cookie"
  erl -sname "$NAME" -setcookie "$(cat "$WORK/cookie")" +P 4000000 -pa "$WORK" -noshell -noinput -detached \
    -eval "application:ensure_all_started(chaos_bench), chaos_bench_pool:populate($n), file:write_file(\"$WORK/ready\", os:getpid())."
  for _ in $(seq 1 180); do [ -f "$WORK/ready" ] && break; sleep 1; done
  [ -f "$WORK/ready" ] || { echo "the bench node did not start" >&2; exit 1; }
  BEAM=$(cat "$WORK/ready")
}
