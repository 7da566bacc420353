"""Prints the store x workload table of docs/performance.md from the JSON
documents scripts/bench-table.sh saved (`statestore bench --format json`):
each cell is the median of the runs' ratios, with their lowest and highest.
Usage: python3 scripts/bench_table.py DIR"""

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

RAW = "statestore / raw driver (keys/s)"
LOOP = "native call / one task's loop of single calls (keys/s)"
RAW_LOOP = "raw driver: " + LOOP
WORKLOADS = ["get", "set", "bulk_get", "bulk_set", "transact"]


def cell(values):
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}x"
    return f"{med:.2f}x ({min(values):.2f}-{max(values):.2f})"


def main(folder):
    raw = defaultdict(list)
    loop = defaultdict(list)
    raw_loop = defaultdict(list)
    stores = []
    for path in sorted(Path(folder).glob("*.json")):
        doc = json.loads(path.read_text())
        store = path.name.rsplit("-", 2)[0]
        if store not in stores:
            stores.append(store)
        batch = doc["batch"]
        for r in doc["ratios"]:
            workload, what = r["what"].split(": ", 1)
            key = (store, workload if workload in ("get", "set") else f"{workload} {batch}")
            if what == RAW:
                raw[key].append(r["ratio"])
            elif what == LOOP:
                loop[key].append(r["ratio"])
            elif what == RAW_LOOP:
                raw_loop[key].append(r["ratio"])
    columns = ["get", "set"] + [f"{w} {b}" for w in WORKLOADS[2:] for b in (100, 1000)]
    print("Ratio to the raw driver (keys/s), median of the runs (lowest-highest):\n")
    print("| store | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for s in stores:
        print(f"| {s} | " + " | ".join(cell(raw[(s, c)]) for c in columns) + " |")
    print("\nNative call against one task's loop of single calls (keys/s), median:\n")
    columns = columns[2:]
    print("| store | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for s in stores:
        print(f"| {s} | " + " | ".join(cell(loop[(s, c)]) for c in columns) + " |")
    if raw_loop:
        print("\nThe raw driver's native call against its own loop (RAW_LOOPS=1), median:\n")
        print("| store | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")
        for s in stores:
            print(f"| {s} | " + " | ".join(cell(raw_loop[(s, c)]) for c in columns) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
