#!/usr/bin/env python3
"""Where a `statestore bench` run spends its CPU, the SDK's halves against the
raw driver's: perf samples (cpu-clock, so also on VMs without hardware
counters) split by the half-row each fell in, per 1,000 keys, by symbol,
sorted by how much more the SDK spends on each than the raw side. The 50 ms
trimmed off each half's ends are counted against the whole row's keys, a
bias both sides share. docs/performance.md, "state.redis", uses it.

With --system, every CPU is sampled (perf's -a), so a database server on
this machine is counted with the bench, and so is idle time, as the thread
`swapper`: the totals are then wall time per key, and each workload also
prints samples per 1,000 keys by thread name (perf's comm: `postgres`,
`mariadbd`, `redis-server`, the bench's `tokio-rt-worker`). Without it,
only the bench process is sampled, and only while it runs.

With --loop, the SDK's native call is set against the SDK's own loop of
single calls by one task (the row "statestore, one task, single calls")
instead of the raw driver: where a loop's time goes that a bulk call saves.

Usage (as root; or with perf_event_paranoid <= 1, and <= 0 for --system;
needs perf):
  scripts/bench-profile.py [--top N] [--system] -- BIN bench --component M --ops set --no-loops
  scripts/bench-profile.py --loop [--top N] [--system] -- BIN bench --component M --ops bulk_set
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


def record(out, cmd, system):
    """Runs the bench under perf; the wall-clock start of each half-row."""
    perf = ["perf", "record", "-e", "cpu-clock", "-k", "CLOCK_REALTIME", "-F", "3000", "-g",
            *(["-a"] if system else []), "-o", f"{out}/perf.data", "--", *cmd, "--format", "json"]
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
    with open(f"{out}/run.json", "w") as f:
        f.write(out_text)
    return marks, json.loads(out_text)


def samples(out, span):
    """Samples within one time span, by symbol and by thread name (comm),
    from one report."""
    report = subprocess.run(
        ["perf", "report", "-i", f"{out}/perf.data", "--no-children", "--sort", "comm,sym",
         "--time", span, "--stdio", "-g", "none", "-F", "sample,comm,sym"],
        capture_output=True, text=True).stdout
    by_sym, by_comm = {}, {}
    for line in report.splitlines():
        m = re.match(r"\s*(\d+)\s+(.*?)\s+\[.\]\s+(.*)", line)
        if m:
            n, comm, sym = int(m.group(1)), m.group(2), m.group(3).strip()[:100]
            by_sym[sym] = by_sym.get(sym, 0) + n
            by_comm[comm] = by_comm.get(comm, 0) + n
    return by_sym, by_comm


def side_samples(out, spans):
    """Samples by symbol and by thread name over all of one side's spans."""
    by_sym, by_comm = {}, {}
    for s in spans:
        syms, comms = samples(out, s)
        for total, part in ((by_sym, syms), (by_comm, comms)):
            for name, n in part.items():
                total[name] = total.get(name, 0) + n
    return by_sym, by_comm


def main():
    args = sys.argv[1:]
    top, system, loop = 30, False, False
    while args[:1] in (["--top"], ["--system"], ["--loop"]):
        if args[0] == "--system":
            system, args = True, args[1:]
        elif args[0] == "--loop":
            loop, args = True, args[1:]
        elif len(args) > 1 and args[1].isdigit():
            top, args = int(args[1]), args[2:]
        else:
            sys.exit("bench-profile: --top takes a number")
    if args[:1] == ["--"]:
        args = args[1:]
    out = os.environ.get("OUT") or tempfile.mkdtemp(prefix="bench-profile-")
    os.makedirs(out, exist_ok=True)
    marks, result = record(out, args, system)
    keys = {(r["workload"], r["via"]): r["keys"] for r in result["rows"]}
    rate = {(r["workload"], r["via"]): r["keys_per_s"] for r in result["rows"]}
    spans = {}
    for i, (start, what) in enumerate(marks):
        if what and i + 1 < len(marks):
            # 50 ms trimmed off each end: the row's tasks start and stop.
            spans.setdefault(tuple(what), []).append(f"{start + 0.05:.3f},{marks[i + 1][0] - 0.05:.3f}")
    # The other side: the raw driver's native call (not its loop, with
    # --raw-loops), or with --loop the SDK's loop by one task.
    if loop:
        other = lambda via: via == "statestore, one task, single calls"
    else:
        other = lambda via: via.startswith("raw") and not via.endswith("single calls")
    for workload in dict.fromkeys(w for w, _ in spans):
        sides = {}
        for (w, via), ss in spans.items():
            if w != workload or not (via == "statestore" or other(via)):
                continue
            side = "sdk" if via == "statestore" else "raw"
            syms, procs = side_samples(out, ss)
            sides[side] = (syms, keys[(w, via)], rate[(w, via)], procs)
        if len(sides) < 2:
            continue
        (sdk, ks, rs, psdk), (raw, kr, rr, praw) = sides["sdk"], sides["raw"]
        if not (ks and kr and rr):
            print(f"{workload}: a side moved no keys; nothing to compare")
            continue
        per = lambda by, sym, k: by.get(sym, 0) / k * 1000
        name = "loop" if loop else "raw"
        print(f"{workload}: {rs / rr:.2f}x the {name} side's keys/s; samples per 1,000 keys, "
              f"SDK {sum(sdk.values()) / ks * 1000:.2f}, {name} {sum(raw.values()) / kr * 1000:.2f}")
        if system:
            busiest = lambda p: -max(per(psdk, p, ks), per(praw, p, kr))
            for p in sorted(set(psdk) | set(praw), key=busiest)[:8]:
                print(f"  {per(psdk, p, ks):7.3f} {per(praw, p, kr):7.3f}  thread {p}")
        # First the symbols the SDK spends most more on than the raw side,
        # or with --loop those the loop spends most more on than the native
        # call.
        sign = -1 if loop else 1
        order = sorted(set(sdk) | set(raw),
                       key=lambda s: sign * (per(raw, s, kr) - per(sdk, s, ks)))
        for sym in order[:top]:
            print(f"  {per(sdk, sym, ks):7.3f} {per(raw, sym, kr):7.3f}  {sym}")
    print(f"(perf.data and the run in {out})", file=sys.stderr)


if __name__ == "__main__":
    main()
