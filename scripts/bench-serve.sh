#!/usr/bin/env bash
# Load on `statestore serve` with wrk (docs/performance.md): GET of one key
# on the in-memory store against the same request on a trivial handler of
# the same HTTP stack returning the same bytes (cli/examples/http_baseline.rs),
# alternated A B B A in one run; then save and get through Redis.
#
# Usage: scripts/bench-serve.sh [seconds per run (10)] [connections (50)] [redis]
# Needs wrk (apt-get install wrk); builds the CLI and the baseline in the
# release profile (BENCH_PROFILE=debug: the debug one, as scripts/test does
# to check for errors only); with `redis`, a Redis on 127.0.0.1:6379. Fails
# when wrk reports an error (socket errors, non-2xx answers); the figures
# are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
target="${CARGO_TARGET_DIR:-target}"
command -v wrk >/dev/null || { echo "error: wrk is missing: apt-get install wrk" >&2; exit 1; }
profile=${BENCH_PROFILE:-release}
cargo build --quiet --profile "${profile/debug/dev}" -p statestore-cli --all-features --bin statestore --example http_baseline
bin="$target/$profile/statestore"
base="$target/$profile/examples/http_baseline"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

# Waits for a line matching $2 in file $1 and prints the port of its first
# http:// address.
port_of() {
    for _ in $(seq 1 300); do
        grep -q "$2" "$1" 2>/dev/null && break
        sleep 0.1
    done
    sed -n "/$2/s|.*http://127\.0\.0\.1:\([0-9]*\).*|\1|p" "$1" | head -1
}

cat >"$tmp/stores.yaml" <<EOF
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: memory}
spec: {type: state.in-memory, version: v1}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: redis}
spec:
  type: state.redis
  version: v1
  metadata: [{name: redisHost, value: "127.0.0.1:6379"}]
EOF
if [ "${3:-}" != redis ]; then
    sed -i '/^---$/,$d' "$tmp/stores.yaml"
fi
"$bin" serve --components "$tmp/stores.yaml" --http-port 0 --grpc-port 0 --app-id bench >"$tmp/serve.out" 2>"$tmp/serve.err" &
pids+=($!)
port=$(port_of "$tmp/serve.out" '^serving')
[ -n "$port" ] || { cat "$tmp/serve.err" >&2; exit 1; }
value='{"user":"ada","cart":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"total":42.5}'
curl -sf -X POST "http://127.0.0.1:$port/v1.0/state/memory" -d "[{\"key\":\"k1\",\"value\":$value}]"
etag=$(curl -sfi "http://127.0.0.1:$port/v1.0/state/memory/k1" | tr -d '\r' | sed -n 's/^etag: //Ip')
body=$(curl -sf "http://127.0.0.1:$port/v1.0/state/memory/k1")
"$base" 0 "$etag" "$body" >"$tmp/base.out" &
pids+=($!)
bport=$(port_of "$tmp/base.out" 'listening')
[ "$(curl -sf "http://127.0.0.1:$bport/v1.0/state/memory/k1")" = "$body" ] ||
    { echo "error: the baseline does not answer the same bytes" >&2; exit 1; }

# One wrk run: prints "requests/s p50 p99" and fails on any error.
run() {
    local out
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@")
    if grep -Eq 'Socket errors|Non-2xx' <<<"$out"; then
        echo "$out" >&2
        echo "error: wrk reported errors against $*" >&2
        exit 1
    fi
    local rps p50 p99
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    echo "$rps $p50 $p99"
}

echo "wrk -t2 -c$conns -d${secs}s ($profile build), GET of one key (${#body} bytes), A B B A: requests/s p50 p99"
a1=$(run "http://127.0.0.1:$port/v1.0/state/memory/k1")
echo "  serve, in-memory:   $a1"
b1=$(run "http://127.0.0.1:$bport/v1.0/state/memory/k1")
echo "  trivial handler:    $b1"
b2=$(run "http://127.0.0.1:$bport/v1.0/state/memory/k1")
echo "  trivial handler:    $b2"
a2=$(run "http://127.0.0.1:$port/v1.0/state/memory/k1")
echo "  serve, in-memory:   $a2"
awk -v a1="${a1%% *}" -v a2="${a2%% *}" -v b1="${b1%% *}" -v b2="${b2%% *}" \
    'BEGIN { printf "  ratio serve / trivial handler: %.2f\n", (a1 + a2) / (b1 + b2) }'

if [ "${3:-}" = redis ]; then
    curl -sf -X POST "http://127.0.0.1:$port/v1.0/state/redis" -d "[{\"key\":\"k1\",\"value\":$value}]"
    cat >"$tmp/save.lua" <<EOF
wrk.method = "POST"
wrk.body = '[{"key":"k1","value":$value}]'
wrk.headers["Content-Type"] = "application/json"
EOF
    echo "  redis get:          $(run "http://127.0.0.1:$port/v1.0/state/redis/k1")"
    echo "  redis save:         $(run -s "$tmp/save.lua" "http://127.0.0.1:$port/v1.0/state/redis")"
fi
