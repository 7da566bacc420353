#!/usr/bin/env bash
# The store x workload table of docs/performance.md: `statestore bench` on
# each manifest, RUNS times (default 3), with 100 keys per bulk call and
# transaction (every workload, 50 tasks) and with 1,000 (bulk workloads
# only, 8 tasks: 50 tasks of 1,000 keys queue past MongoDB's 5 s
# operationTimeout on two cores), then
# scripts/bench_table.py prints each ratio to the raw driver as the median
# of the runs with their spread, and the native call against one task's
# loop of single calls (and, with RAW_LOOPS=1, the raw driver's native call
# against its own loop: what the backend itself allows).
#
# Usage: scripts/bench-table.sh [manifest names (default: the six stores)]
#   RUNS=3 DURATION=3s OUT=/tmp/bench-table scripts/bench-table.sh sqlite redis
#   RAW_LOOPS=1 scripts/bench-table.sh sqlite dynamodb
# Needs the services (scripts/services.sh start); builds the release CLI.
# Vacuums PostgreSQL's example table before each of its runs, when psql is
# there.
# Run it on an otherwise idle machine: the figures are ratios of one run,
# but a busy machine still widens their spread.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
duration=${DURATION:-3s}
out=${OUT:-$(mktemp -d)}
target="${CARGO_TARGET_DIR:-target}"
stores=("$@")
extra=()
[ "${RAW_LOOPS:-}" = 1 ] && extra=(--raw-loops)
[ ${#stores[@]} -gt 0 ] || stores=(sqlite redis postgres mysql mongodb dynamodb)
cargo build --quiet --release -p statestore-cli --all-features --bin statestore
bin="$target/release/statestore"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# SQLite's database goes to a scratch folder, out of the checkout.
sed "s|statestore.db|$work/bench.db|" examples/components/sqlite.yaml >"$work/sqlite.yaml"
for run in $(seq 1 "$runs"); do
    for store in "${stores[@]}"; do
        manifest="examples/components/$store.yaml"
        [ "$store" = sqlite ] && manifest="$work/sqlite.yaml"
        # The raw side's table is new in every run, the store's keeps the
        # dead rows of earlier runs where autovacuum is off (as here): a
        # vacuum first puts the two on the same footing.
        if [ "$store" = postgres ] && command -v psql >/dev/null; then
            psql -q -h 127.0.0.1 -U postgres test -c 'VACUUM (ANALYZE) statestore_example' >&2 ||
                echo "[bench-table] the vacuum of statestore_example failed; going on" >&2
        fi
        echo "[bench-table] run $run/$runs: $store, batch 100" >&2
        "$bin" bench --component "$manifest" --duration "$duration" --batch 100 \
            "${extra[@]}" --format json 2>/dev/null >"$out/$store-100-$run.json"
        echo "[bench-table] run $run/$runs: $store, batch 1000 (bulk workloads)" >&2
        "$bin" bench --component "$manifest" --duration "$duration" --batch 1000 --concurrency 8 \
            --ops bulk_get,bulk_set,transact "${extra[@]}" --format json 2>/dev/null >"$out/$store-1000-$run.json"
    done
done
echo "[bench-table] results in $out" >&2
python3 scripts/bench_table.py "$out"
