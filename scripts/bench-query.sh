#!/usr/bin/env bash
# The query row of docs/performance.md: `statestore bench --ops query` on
# SQLite, PostgreSQL and MariaDB over DOCS (default 100,000) JSON documents
# `{"run", "group", "n"}`, each call a page of 100 by `EQ` on `group`;
# first without an index, then with the index docs/query.md ("Indexes")
# shows for a number at `group`. Each bench run writes its documents into
# table bench_query and removes them at the end; the tables (bench_query and
# its metadata table bench_query_meta) are dropped before and after.
#
# Usage: scripts/bench-query.sh [stores (default: sqlite postgres mysql)]
#   DOCS=100000 DURATION=6s CONCURRENCY=8 OUT=/tmp/bench-query scripts/bench-query.sh
# Needs PostgreSQL and MariaDB (scripts/services.sh start); builds the
# release CLI; prints one line per store and index.
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${DOCS:-100000}
duration=${DURATION:-6s}
concurrency=${CONCURRENCY:-8}
out=${OUT:-$(mktemp -d)}
target="${CARGO_TARGET_DIR:-target}"
stores=("$@")
[ ${#stores[@]} -gt 0 ] || stores=(sqlite postgres mysql)
cargo build --quiet --release -p statestore-cli --all-features --bin statestore
bin="$target/release/statestore"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/bench-query.db"
pg=(psql -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=1)
my=(mariadb --protocol=TCP -h 127.0.0.1 -u root test)

# The index expressions docs/query.md shows for a number at `person.age`
# (a unit test of each store checks them against what it writes), made for
# `group`: the one text, not a copy that could drift.
doc_expr() {
    python3 - "$1" <<'EOF'
import re, sys
section = open("docs/query.md").read().split("### " + sys.argv[1], 1)[1]
expr = re.search(r"\(CASE WHEN .*? END\)", section).group(0)
print(expr.replace("'person' -> 'age'", "'group'").replace('"person"."age"', '"group"'))
EOF
}
pg_expr=$(doc_expr "PostgreSQL: an expression index")
my_expr=$(doc_expr "MySQL and MariaDB: a generated column")
lite_expr=$(doc_expr "SQLite: an expression index")

args() {
    case "$1" in
        sqlite) echo "--type state.sqlite --meta connectionString=$db --meta tableName=bench_query --meta metadataTableName=bench_query_meta" ;;
        postgres) echo "--type state.postgresql --meta connectionString=postgres://postgres@127.0.0.1:5432/test --meta tableName=bench_query --meta metadataTableName=bench_query_meta" ;;
        mysql) echo "--type state.mysql --meta connectionString=root@tcp(127.0.0.1:3306)/ --meta schemaName=test --meta tableName=bench_query --meta metadataTableName=bench_query_meta" ;;
    esac
}

index() {
    case "$1" in
        sqlite) python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.execute('ANALYZE'); c.commit()" \
            "$db" "CREATE INDEX bench_query_group ON bench_query ($lite_expr)" ;;
        postgres) "${pg[@]}" -c "CREATE INDEX bench_query_group ON bench_query ($pg_expr)" -c "ANALYZE bench_query" ;;
        mysql) "${my[@]}" -e "ALTER TABLE bench_query ADD COLUMN bench_group DOUBLE AS ($my_expr) VIRTUAL, ADD INDEX bench_query_group (bench_group)" ;;
    esac
}

drop() {
    case "$1" in
        sqlite) rm -f "$db" "$db-wal" "$db-shm" ;;
        postgres) "${pg[@]}" -c "DROP TABLE IF EXISTS bench_query, bench_query_meta" ;;
        mysql) "${my[@]}" -e "DROP TABLE IF EXISTS bench_query, bench_query_meta" ;;
    esac
}

bench() {
    # shellcheck disable=SC2046
    "$bin" bench $(args "$1") --ops query --keys "$docs" --duration "$duration" \
        --concurrency "$concurrency" --no-raw --format json 2>"$out/$1-$2.err" >"$out/$1-$2.json"
    python3 - "$out/$1-$2.json" "$1" "$2" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
row = next(r for r in doc["rows"] if r["workload"] == "query")
print(f"{sys.argv[2]:<9} {sys.argv[3]:<9} {row['calls_per_s']:>9.1f} queries/s "
      f"{row['keys_per_s']:>10.0f} results/s  p50 {row['p50_us'] / 1000:.1f} ms  "
      f"p99 {row['p99_us'] / 1000:.1f} ms  errors {row['errors']}")
EOF
}

for store in "${stores[@]}"; do
    drop "$store"
    echo "[bench-query] $store: $docs documents, no index" >&2
    bench "$store" no-index
    index "$store"
    echo "[bench-query] $store: $docs documents, index on group" >&2
    bench "$store" index
    drop "$store"
done
echo "[bench-query] JSON of each run in $out" >&2
