#!/usr/bin/env bash
# The loop of docs/pluggable.md: `statestore serve --pluggable` serves each
# store type on a socket, and `statestore conformance --type state.pluggable`
# drives each socket as daprd would, running the whole suite through it.
# Usage: scripts/pluggable-loop.sh BIN [TYPE...] (default: every backend;
# the servers of scripts/services.sh must be up).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1; shift
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(in-memory sqlite redis postgresql mongodb aws.dynamodb)
tmp=$(mktemp -d)
sockets="$tmp/sockets"
serve_args=()
for t in "${types[@]}"; do serve_args+=(--type "state.$t"); done
"$bin" serve --pluggable --sockets-folder "$sockets" "${serve_args[@]}" >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for t in "${types[@]}"; do
    for _ in $(seq 1 300); do [ -S "$sockets/$t.sock" ] && break; sleep 0.1; done
    [ -S "$sockets/$t.sock" ] || { cat "$tmp/serve.err" >&2; echo "error: no socket $sockets/$t.sock" >&2; exit 1; }
done
# The properties each served store gets through Init, as daprd would pass a
# manifest's metadata; the suite's keys carry a prefix of each run.
meta_for() {
    case $1 in
        in-memory) meta=(--isolated) ;;
        sqlite) meta=(--meta "connectionString=$tmp/loop.db") ;;
        redis) meta=(--meta redisHost=127.0.0.1:6379) ;;
        postgresql) meta=(--meta "connectionString=host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
            --meta "tableName=pluggable_loop") ;;
        mongodb) meta=(--meta host=127.0.0.1:27017 --meta "params=?replicaSet=rs0" --meta databaseName=statestore
            --meta "collectionName=pluggable_loop") ;;
        aws.dynamodb) meta=(--meta table=pluggable-loop --meta region=us-east-1 --meta endpoint=http://127.0.0.1:8000
            --meta accessKey=local --meta secretKey=local --meta ttlAttributeName=expiresAt --meta createTable=true) ;;
        *) echo "error: no Init properties for $1 in $0" >&2; exit 1 ;;
    esac
}
for t in "${types[@]}"; do
    echo "== state.$t through $sockets/$t.sock"
    meta_for "$t"
    "$bin" conformance --type state.pluggable --meta "socket=$sockets/$t.sock" "${meta[@]}" | tee "$tmp/conformance"
    grep -Eq '^[0-9]+ passed, 0 failed, [0-9]+ skipped' "$tmp/conformance"
done
# A component configured by its manifest (Component::ready): every
# instance shares the store the manifest opens, and Init's metadata is not
# used.
sed "s|statestore.db|$tmp/manifest.db|" examples/components/sqlite.yaml >"$tmp/sqlite.yaml"
"$bin" serve --pluggable --sockets-folder "$tmp/manifest-sockets" --components "$tmp/sqlite.yaml" \
    >"$tmp/manifest.out" 2>"$tmp/manifest.err" &
manifest_pid=$!
trap 'kill "$pid" "$manifest_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
socket="$tmp/manifest-sockets/statestore.sock"
for _ in $(seq 1 300); do [ -S "$socket" ] && break; sleep 0.1; done
echo "== the component of examples/components/sqlite.yaml through $socket"
"$bin" conformance --type state.pluggable --meta "socket=$socket" | tee "$tmp/conformance"
grep -Eq '^[0-9]+ passed, 0 failed, [0-9]+ skipped' "$tmp/conformance"
kill "$manifest_pid"
wait "$manifest_pid" || { cat "$tmp/manifest.err" >&2; echo "error: serve --pluggable --components did not stop cleanly" >&2; exit 1; }
[ ! -e "$socket" ] || { echo "error: $socket is left after shutdown" >&2; exit 1; }
kill "$pid"
wait "$pid" || { cat "$tmp/serve.err" >&2; echo "error: statestore serve --pluggable did not stop cleanly" >&2; exit 1; }
for t in "${types[@]}"; do
    [ ! -e "$sockets/$t.sock" ] || { echo "error: $sockets/$t.sock is left after shutdown" >&2; exit 1; }
done
if grep -q panicked "$tmp/serve.err"; then cat "$tmp/serve.err" >&2; exit 1; fi
