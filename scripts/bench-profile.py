#!/usr/bin/env python3
"""Where a `statestore bench` run spends its CPU, the SDK's halves against the
raw driver's: perf samples (cpu-clock, so also on VMs without hardware
counters) split by the half-row each fell in, per 1,000 keys, by symbol,
sorted by how much more the SDK spends on each than the raw side. The 50 ms
trimmed off each half's ends are counted against the whole row's keys, a
bias both sides share. docs/performance.md, "state.redis", uses it.

Usage (as root, or with perf_event_paranoid <= 1; needs perf):
  scripts/bench-profile.py [--top N] -- BIN bench --component M --ops set --no-loops
The bench arguments are passed on; `--format json` is added. perf.data and
the run's JSON stay in $OUT (default: a new temporary folder).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HALF = re.compile(r"running (\S+) via (.*) for")


def record(out, cmd):
    """Runs the bench under perf; the wall-clock start of each half-row."""
    perf = ["perf", "record", "-e", "cpu-clock", "-k", "CLOCK_REALTIME", "-F", "3000", "-g",
            "-o", f"{out}/perf.data", "--", *cmd, "--format", "json"]
    p = subprocess.Popen(perf, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks, other = [], []
    for line in p.stderr:
        m = HALF.match(line)
        # A half ends where the next begins, or where the bench cleans up;
        # other lines (warnings) do not end it.
        if m or line.startswith("cleaning up"):
            marks.append((time.clock_gettime(time.CLOCK_REALTIME), m.groups() if m else None))
        else:
            other.append(line)
    out_text = p.stdout.read()
    if p.wait() != 0 or not out_text.strip():
        sys.exit("bench-profile: the run failed:\n" + "".join(other))
    return marks, json.loads(out_text)


def samples(out, span):
    """Samples by symbol within one time span."""
    report = subprocess.run(
        ["perf", "report", "-i", f"{out}/perf.data", "--no-children", "--sort", "sym",
         "--time", span, "--stdio", "-g", "none", "-F", "sample,sym"],
        capture_output=True, text=True).stdout
    by = {}
    for line in report.splitlines():
        m = re.match(r"\s*(\d+)\s+\[.\]\s+(.*)", line)
        if m:
            sym = m.group(2)[:100]
            by[sym] = by.get(sym, 0) + int(m.group(1))
    return by


def main():
    args = sys.argv[1:]
    top = 30
    if args[:1] == ["--top"]:
        top, args = int(args[1]), args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    out = os.environ.get("OUT") or tempfile.mkdtemp(prefix="bench-profile-")
    os.makedirs(out, exist_ok=True)
    marks, result = record(out, args)
    keys = {(r["workload"], r["via"]): r["keys"] for r in result["rows"]}
    spans = {}
    for i, (start, what) in enumerate(marks):
        if what and i + 1 < len(marks):
            # 50 ms trimmed off each end: the row's tasks start and stop.
            spans.setdefault(tuple(what), []).append(f"{start + 0.05:.3f},{marks[i + 1][0] - 0.05:.3f}")
    for workload in dict.fromkeys(w for w, _ in spans):
        sides = {}
        for (w, via), ss in spans.items():
            if w != workload or not (via == "statestore" or via.startswith("raw")):
                continue
            by = {}
            for s in ss:
                for sym, n in samples(out, s).items():
                    by[sym] = by.get(sym, 0) + n
            sides["sdk" if via == "statestore" else "raw"] = (by, keys[(w, via)])
        if len(sides) < 2:
            continue
        (sdk, ks), (raw, kr) = sides["sdk"], sides["raw"]
        per = lambda by, sym, k: by.get(sym, 0) / k * 1000
        print(f"{workload}: samples per 1,000 keys, SDK {sum(sdk.values()) / ks * 1000:.2f}, "
              f"raw {sum(raw.values()) / kr * 1000:.2f}")
        order = sorted(set(sdk) | set(raw), key=lambda s: per(raw, s, kr) - per(sdk, s, ks))
        for sym in order[:top]:
            print(f"  {per(sdk, sym, ks):7.3f} {per(raw, sym, kr):7.3f}  {sym}")
    print(f"(perf.data and the run in {out})", file=sys.stderr)


if __name__ == "__main__":
    main()
