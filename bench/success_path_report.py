#!/usr/bin/env python3
"""Turns the runs of bench/success_path.sh into CSV summaries and a markdown
page. Every ratio is against variant (a), plain gRPC, of the same run.

usage: success_path_report.py OUT_DIR MD WALL_CSV FASTFAIL_CSV COMMAND REPS ROUNDS
"""
import csv
import datetime
import os
import platform
import statistics
import sys

NAMES = {
    "a": "(a) plain gRPC",
    "b": "(b) registered, no resilience config",
    "c": "(c) retry policy + budget + breaker",
    "d": "(d) gRPC retryPolicy",
    "e": "(e) gRPC retryPolicy + retryThrottling",
}


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))
    return sorted_values[i]


def read_latencies(paths):
    values = []
    for p in paths:
        with open(p) as f:
            values.extend(int(line) for line in f if line.strip())
    values.sort()
    return values


def main():
    out, md, wall_csv, ff_csv, command, reps, rounds = sys.argv[1:8]
    lines = []
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append("# Success-path cost\n")
    lines.append(f"Command: `{command}` (run {date}; {platform.node()}, "
                 f"{os.cpu_count()} CPUs; {reps} callgrind run(s) per variant, "
                 f"{rounds} wall-clock round(s)).\n")
    lines.append("Unary echo of 16 bytes over 127.0.0.1, client and C-core server "
                 "in one process. Variants: " +
                 "; ".join(f"{NAMES[v]}" for v in "abcde") + ".\n")

    # Instructions.
    per = {v: [] for v in "abcde"}
    with open(os.path.join(out, "instructions.csv")) as f:
        for row in csv.DictReader(f):
            per[row["variant"]].append(int(row["instructions_per_call"]))
    base = statistics.median(per["a"])
    lines.append("## Instructions per call (callgrind)\n")
    lines.append("Client and server together, per sequential call: median of the "
                 "runs, range in brackets. Repeatable to about ±0.5% on this "
                 "machine whatever its load.\n")
    lines.append("| variant | instructions/call | vs (a) | over (a) |")
    lines.append("|---|---:|---:|---:|")
    with open(os.path.join(out, "instructions_summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "median", "min", "max", "ratio_to_a"])
        for v in "abcde":
            m = statistics.median(per[v])
            w.writerow([v, int(m), min(per[v]), max(per[v]), f"{m / base:.4f}"])
            lines.append(f"| {NAMES[v]} | {int(m):,} ({min(per[v]):,}–{max(per[v]):,}) "
                         f"| {m / base:.3f}x | {int(m - base):+,} |")
    lines.append("")

    # Wall clock.
    rows = list(csv.DictReader(open(wall_csv)))
    lines.append("## Throughput and latency (wall clock)\n")
    lines.append("Each variant in its own process, rounds interleaved. On a shared "
                 "2-vCPU machine differences of a few percent are noise: read the "
                 "instruction counts for the filter's own cost.\n")
    with open(os.path.join(out, "wallclock.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "threads", "calls", "calls_per_s", "p50_us",
                    "p99_us", "p999_us", "failures", "tput_ratio", "p50_ratio",
                    "p99_ratio", "p999_ratio"])
        for threads in ("1", "8"):
            lines.append(f"### {threads} client thread(s)\n")
            lines.append("| variant | calls/s | vs (a) | p50 µs | vs (a) | p99 µs | "
                         "vs (a) | p99.9 µs | vs (a) | failed |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            stats = {}
            for v in "abcde":
                mine = [r for r in rows if r["variant"] == v and r["threads"] == threads]
                calls = sum(int(r["calls"]) for r in mine)
                busy = sum(int(r["wall_ns"]) for r in mine)
                lat = read_latencies(r["latency_file"] for r in mine)
                stats[v] = (calls * 1e9 / busy if busy else 0.0,
                            percentile(lat, 0.50) / 1e3, percentile(lat, 0.99) / 1e3,
                            percentile(lat, 0.999) / 1e3,
                            sum(int(r["failures"]) for r in mine), calls)
            b = stats["a"]
            for v in "abcde":
                s = stats[v]
                ratios = [s[0] / b[0], s[1] / b[1], s[2] / b[2], s[3] / b[3]]
                w.writerow([v, threads, s[5], f"{s[0]:.0f}", f"{s[1]:.1f}",
                            f"{s[2]:.1f}", f"{s[3]:.1f}", s[4]] +
                           [f"{x:.3f}" for x in ratios])
                lines.append(f"| {NAMES[v]} | {s[0]:,.0f} | {ratios[0]:.3f}x | "
                             f"{s[1]:.1f} | {ratios[1]:.3f}x | {s[2]:.1f} | "
                             f"{ratios[2]:.3f}x | {s[3]:.1f} | {ratios[3]:.3f}x | {s[4]} |")
            lines.append("")

    # Fast fail.
    rows = list(csv.DictReader(open(ff_csv)))
    lines.append("## Failing fast: an OPEN breaker against gRPC alone\n")
    lines.append("Calls that fail, on one thread. *Closed port*: nothing listens; "
                 "gRPC's channel is in TRANSIENT_FAILURE and fails each call "
                 "UNAVAILABLE itself, without a round trip. *Failing server*: it "
                 "answers every call UNAVAILABLE (Trailers-Only), as a proxy with no "
                 "healthy backend does; gRPC sends every call to it. With the breaker "
                 "(`minimumCalls` 5, `openDuration` 1 h, opened by 50 warm-up calls) "
                 "the filter fails each call before it reaches client-channel. Every "
                 "call must end UNAVAILABLE.\n")
    lines.append("| target | client | calls/s | vs gRPC alone | p50 µs | p99 µs | "
                 "calls reaching the server | not UNAVAILABLE |")
    lines.append("|---|---|---:|---:|---:|---:|---|---:|")
    label = {"a": "gRPC alone", "c": "breaker OPEN"}
    reach = {("closed", "a"): "none (no listener)", ("closed", "c"): "none",
             ("failing", "a"): "every call", ("failing", "c"): "none"}
    with open(os.path.join(out, "fastfail.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["against", "variant", "calls", "calls_per_s", "p50_us",
                    "p99_us", "failures"])
        for against in ("closed", "failing"):
            res = {}
            for v in "ac":
                mine = [r for r in rows if r["variant"] == v and r["against"] == against]
                calls = sum(int(r["calls"]) for r in mine)
                busy = sum(int(r["wall_ns"]) for r in mine)
                lat = read_latencies(r["latency_file"] for r in mine)
                res[v] = (calls * 1e9 / busy, percentile(lat, 0.5) / 1e3,
                          percentile(lat, 0.99) / 1e3,
                          sum(int(r["failures"]) for r in mine))
                w.writerow([against, v, calls, f"{res[v][0]:.0f}",
                            f"{res[v][1]:.1f}", f"{res[v][2]:.1f}", res[v][3]])
            name = "closed port" if against == "closed" else "failing server"
            for v in "ac":
                s_ = res[v]
                lines.append(f"| {name} | {label[v]} | {s_[0]:,.0f} | "
                             f"{s_[0] / res['a'][0]:.2f}x | {s_[1]:.1f} | {s_[2]:.1f} | "
                             f"{reach[(against, v)]} | {s_[3]} |")
    lines.append("")
    with open(md, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
