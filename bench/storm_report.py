#!/usr/bin/env python3
"""Computes the retry-storm experiment's numbers from the files of its runs
and prints them side by side (scripts/demo.sh runs the experiment).

Each run directory holds what one run left behind:
  server.json  flaky_server's summary (its stdout without the first line)
  server.log   one line per arrival: mono_ms rel_ms answer x-call-id
  client.json  load_client's summary
  client.log   one line per call: start_ms end_ms code B|- x-call-id
  stats.json   grpcr-stats --json of the client after its load (plugin runs)
  live.tsv     one line per second: mono_ms breaker_state (plugin runs)

Every number printed is computed here from those files. All times are
CLOCK_MONOTONIC milliseconds, which both processes read.

Usage: storm_report.py [--json OUT] [--png OUT] [--check] LABEL=DIR LABEL=DIR
--png draws the timeline of both runs with gnuplot (one panel each, per
second: attempts that reached the server, and the client's calls ending OK
and failing, with the outage shaded), next to the per-second data
(OUT with .tsv).
--check exits 1 unless the second run (grpc-resilience) sent fewer attempts
of outage-time calls to the server than the first (gRPC's own retries):
attempts that reached it while it was down, plus attempts of calls started
while it was down that reached it after it came back (the backlog a retry
layer releases into a recovering server); and unless its breaker both opened
and closed again, and both runs saw a successful call after the outage."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap

STORM_WINDOW_MS = 3000.0  # "just after recovery": the first 3 s back up


def load_json(path, skip_first_line=False):
    with open(path) as f:
        text = f.read()
    if skip_first_line:
        text = text.split("\n", 1)[1]
    return json.loads(text)


def read_rows(path):
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def median(values):
    return statistics.median(values) if values else None


def peak_per_second(times, start, end):
    """Largest number of times in any 1 s window starting in [start, end)."""
    times = sorted(t for t in times if start <= t < end + 1000.0)
    best, j = 0, 0
    for i, t in enumerate(times):
        if t >= end:
            break
        while j < len(times) and times[j] < t + 1000.0:
            j += 1
        best = max(best, j - i)
    return best


def breaker_transitions(stats):
    """C->O, O->H, H->O, H->C counts from the breaker's totals and its state.

    The breaker starts CLOSED and only moves C->O, O->H, H->O, H->C, so:
    O->H = opened - [OPEN now]; H->C = total - opened - O->H;
    C->O = H->C + 1 - [CLOSED now]; H->O = opened - C->O."""
    chans = [c for c in stats.get("channels", []) if c.get("breaker")]
    if not chans:
        return None
    out = {"C->O": 0, "O->H": 0, "H->O": 0, "H->C": 0, "final": []}
    for c in chans:
        b = c["breaker"]
        state, total, opened = b["state"], b["transitions_total"], b["opened_total"]
        o_h = opened - (1 if state == "OPEN" else 0)
        h_c = total - opened - o_h
        c_o = h_c + 1 - (1 if state == "CLOSED" else 0)
        h_o = opened - c_o
        out["C->O"] += c_o
        out["O->H"] += o_h
        out["H->O"] += h_o
        out["H->C"] += h_c
        out["final"].append(state)
    return out


def analyse(label, d):
    server = load_json(f"{d}/server.json")
    client = load_json(f"{d}/client.json")
    arrivals = read_rows(f"{d}/server.log")
    calls = read_rows(f"{d}/client.log")
    try:
        stats = load_json(f"{d}/stats.json")
    except (FileNotFoundError, json.JSONDecodeError, IndexError):
        stats = None
    outage = server["outages"][0]
    down, up = outage["down_mono_ms"], outage["up_mono_ms"]

    # Client side.
    recs = [(float(r[0]), float(r[1]), int(r[2]), r[3]) for r in calls]
    started = {r[4]: float(r[0]) for r in calls if len(r) > 4}

    # Server side: every attempt that reached it. An x-call-id seen before
    # is the same call again (a retry after a failure the server gave). A
    # call that started while the server was down and reached it after it
    # came back is backlog: the retry layer held it through the outage and
    # released it into the recovering server.
    seen, arrival_times, repeat_times, backlog_times = set(), [], [], []
    for row in arrivals:
        t, cid = float(row[0]), row[3] if len(row) > 3 else "-"
        arrival_times.append(t)
        if cid != "-" and cid in seen:
            repeat_times.append(t)
        seen.add(cid)
        s0 = started.get(cid)
        if s0 is not None and down <= s0 < up and t >= up:
            backlog_times.append(t)
    in_window = lambda ts, a, b: sum(1 for t in ts if a <= t < b)
    down_arrivals = in_window(arrival_times, down, up)
    failed_in_outage = [e - s for s, e, c, f in recs if c != 0 and down <= s < up]
    fast = [e - s for s, e, c, f in recs if f == "B"]
    ok_after = [e for s, e, c, f in recs if c == 0 and e >= up]
    failed_after = sum(1 for s, e, c, f in recs if c != 0 and s >= up)
    first_fast = min((s for s, e, c, f in recs if f == "B"), default=None)
    status = client["status_counts"]
    ncalls = client["calls"]

    r = {
        "label": label,
        "plugin": client["plugin"],
        "config": client["config"],
        "outage_kind": server["outage_kind"],
        "outage_s": [outage["start_s"], outage["end_s"]],
        "rate": client["rate"],
        "calls": ncalls,
        "ok": status.get("OK", 0),
        "failed": ncalls - status.get("OK", 0),
        "server_arrivals": len(arrival_times),
        "amplification": len(arrival_times) / ncalls if ncalls else 0.0,
        "repeat_arrivals": len(repeat_times),
        "arrivals_during_outage": down_arrivals,
        "backlog_arrivals_after_recovery": len(backlog_times),
        "outage_attempts": down_arrivals + len(backlog_times),
        "peak_arrivals_per_s_during_outage": peak_per_second(arrival_times, down, up),
        "arrivals_after_recovery_3s": in_window(arrival_times, up, up + STORM_WINDOW_MS),
        "peak_arrivals_per_s_after_recovery": peak_per_second(
            arrival_times, up, up + STORM_WINDOW_MS - 1000.0),
        "failed_in_outage_median_ms": median(failed_in_outage),
        "breaker_fast_fail_calls": len(fast),
        "breaker_fast_fail_median_ms": median(fast),
        "breaker_open_after_ms": (first_fast - down) if first_fast is not None else None,
        "recovery_ms": (min(ok_after) - up) if ok_after else None,
        "failed_calls_started_after_recovery": failed_after,
        "latency_p50_ms": client["latency_ms"]["p50"],
        "latency_p99_ms": client["latency_ms"]["p99"],
    }
    if stats is not None:
        chans = stats.get("channels", [])
        r["client_attempts"] = sum(c["attempts"] for c in chans)
        r["client_retries"] = sum(c["retries"] for c in chans)
        r["budget_denied"] = sum(c["budget_denied"] for c in chans)
        r["breaker"] = breaker_transitions(stats)
    states = []
    for row in read_rows(f"{d}/live.tsv"):
        if len(row) >= 2 and (not states or states[-1] != row[1]):
            states.append(row[1])
    r["breaker_states_seen"] = states
    return r


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        if unit == "ms":
            return f"{v:.3f} ms" if v < 1 else f"{v:.0f} ms"
        return f"{v:.2f}{unit}"
    return f"{v}{unit}"


def table(a, b):
    def tr(r, key):
        br = r.get("breaker")
        return br[key] if br else "-"

    def states(r):
        short = {"CLOSED": "C", "OPEN": "O", "HALF_OPEN": "H"}
        return "-".join(short.get(x, x) for x in r["breaker_states_seen"]) or "-"

    def final(r):
        br = r.get("breaker")
        return ",".join(br["final"]) if br else "no breaker"

    rows = [
        ("client calls (same open-loop load)", a["calls"], b["calls"]),
        ("  OK / failed", f"{a['ok']} / {a['failed']}", f"{b['ok']} / {b['failed']}"),
        ("attempts that reached the server", a["server_arrivals"], b["server_arrivals"]),
        ("amplification (arrivals / calls)", fmt(a["amplification"], "x"),
         fmt(b["amplification"], "x")),
        ("  same call again (server-seen retries)", a["repeat_arrivals"],
         b["repeat_arrivals"]),
        ("attempts that reached it while down", a["arrivals_during_outage"],
         b["arrivals_during_outage"]),
        ("  peak arrivals/s while down", a["peak_arrivals_per_s_during_outage"],
         b["peak_arrivals_per_s_during_outage"]),
        ("outage-time calls let in after recovery", a["backlog_arrivals_after_recovery"],
         b["backlog_arrivals_after_recovery"]),
        (f"peak arrivals/s after recovery (offered {a['rate']:g}/s)",
         a["peak_arrivals_per_s_after_recovery"], b["peak_arrivals_per_s_after_recovery"]),
        ("median latency, calls failed in outage", fmt(a["failed_in_outage_median_ms"], "ms"),
         fmt(b["failed_in_outage_median_ms"], "ms")),
        ("breaker first failed a call fast after", fmt(a["breaker_open_after_ms"], "ms"),
         fmt(b["breaker_open_after_ms"], "ms")),
        ("calls failed fast by the breaker", a["breaker_fast_fail_calls"],
         b["breaker_fast_fail_calls"]),
        ("  their median latency", fmt(a["breaker_fast_fail_median_ms"], "ms"),
         fmt(b["breaker_fast_fail_median_ms"], "ms")),
        ("first OK call after server returned", fmt(a["recovery_ms"], "ms"),
         fmt(b["recovery_ms"], "ms")),
        ("failed calls started after it returned", a["failed_calls_started_after_recovery"],
         b["failed_calls_started_after_recovery"]),
        ("client attempts / retries (grpcr stats)",
         f"{a['client_attempts']} / {a['client_retries']}" if "client_attempts" in a
         else "n/a (gRPC exports none)",
         f"{b['client_attempts']} / {b['client_retries']}" if "client_attempts" in b
         else "n/a"),
        ("retries denied by the budget", a.get("budget_denied", "n/a"),
         b.get("budget_denied", "n/a")),
        ("breaker CLOSED -> OPEN", tr(a, "C->O"), tr(b, "C->O")),
        ("breaker OPEN -> HALF_OPEN (probe)", tr(a, "O->H"), tr(b, "O->H")),
        ("breaker HALF_OPEN -> OPEN (probe failed)", tr(a, "H->O"), tr(b, "H->O")),
        ("breaker HALF_OPEN -> CLOSED", tr(a, "H->C"), tr(b, "H->C")),
        ("breaker state at the end", final(a), final(b)),
        ("breaker states seen (1 s samples; C/O/H)", states(a), states(b)),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(max(len(str(r[1])) for r in rows), len(a["label"]))
    w2 = max(max(len(str(r[2])) for r in rows), len(b["label"]))
    line = "+-" + "-" * w0 + "-+-" + "-" * w1 + "-+-" + "-" * w2 + "-+"
    out = [line, f"| {'':{w0}} | {a['label']:>{w1}} | {b['label']:>{w2}} |", line]
    for name, x, y in rows:
        out.append(f"| {name:{w0}} | {str(x):>{w1}} | {str(y):>{w2}} |")
    out.append(line)
    return "\n".join(out)


def summary(a, b):
    """The table in sentences; every number comes from the runs."""
    def ms(v):
        return "-" if v is None else (f"{v:.3f} ms" if v < 1 else f"{v:.0f} ms")

    return "\n".join(textwrap.fill(p, 78) for p in [
        f"While the server was down, {a['arrivals_during_outage']} attempts reached it "
        f"with gRPC's retries and {b['arrivals_during_outage']} with grpc-resilience; "
        f"callers waited a median {ms(a['failed_in_outage_median_ms'])} vs "
        f"{ms(b['failed_in_outage_median_ms'])} for their failure.",
        f"When it came back, gRPC's retries let in {a['backlog_arrivals_after_recovery']} "
        f"calls they had held through the outage (peak {a['peak_arrivals_per_s_after_recovery']}"
        f"/s against {a['rate']:g}/s offered); grpc-resilience let in "
        f"{b['backlog_arrivals_after_recovery']} (peak {b['peak_arrivals_per_s_after_recovery']}/s).",
        f"The price: grpc-resilience's first success came {ms(b['recovery_ms'])} after the "
        f"server returned ({ms(a['recovery_ms'])} with gRPC's retries), and "
        f"{b['failed_calls_started_after_recovery']} calls started after it returned "
        f"still failed (vs {a['failed_calls_started_after_recovery']}) while the breaker "
        f"was open or probing; "
        f"OK calls overall: {a['ok']} vs {b['ok']}.",
    ])


def check(a, b):
    problems = []
    if not (b["outage_attempts"] < a["outage_attempts"]):
        problems.append(
            "grpc-resilience sent %d attempts of outage-time calls to the server "
            "(while it was down, or held and released after it returned), not "
            "fewer than gRPC's retries (%d)" % (b["outage_attempts"], a["outage_attempts"]))
    br = b.get("breaker")
    if not br or br["C->O"] < 1:
        problems.append("the breaker never opened")
    if not br or br["H->C"] < 1:
        problems.append("the breaker never closed again")
    for r in (a, b):
        if r["recovery_ms"] is None:
            problems.append(f"{r['label']}: no call succeeded after the server returned")
    return problems


BUCKET_MS = 250.0  # timeline resolution; rates are per second


def timeline(label, d):
    """Rows (t s, arrivals/s, ok/s, failed/s) per BUCKET_MS from the start of
    the run, and the outage's start and end, in seconds from the same
    origin."""
    server = load_json(f"{d}/server.json")
    arrivals = [float(r[0]) for r in read_rows(f"{d}/server.log")]
    calls = [(float(r[1]), int(r[2])) for r in read_rows(f"{d}/client.log")]
    origin = min([t for t, _ in calls] + arrivals)
    last = max([t for t, _ in calls] + arrivals)
    n = int((last - origin) // BUCKET_MS) + 1
    scale = 1000.0 / BUCKET_MS
    rows = [[k * BUCKET_MS / 1000.0, 0.0, 0.0, 0.0] for k in range(n)]
    for t in arrivals:
        rows[int((t - origin) // BUCKET_MS)][1] += scale
    for end, code in calls:
        rows[int((end - origin) // BUCKET_MS)][2 if code == 0 else 3] += scale
    outage = server["outages"][0]
    return (label, rows, (outage["down_mono_ms"] - origin) / 1000.0,
            (outage["up_mono_ms"] - origin) / 1000.0)


GNUPLOT = """
set terminal pngcairo size 1100,700 font ",10"
set output '{png}'
set datafile separator "\t"
set multiplot layout 2,1 title "Retry storm: rates per 250 ms, from the start of the load (outage shaded)"
set key top right
set ylabel "per second"
set xlabel "seconds"
set yrange [0:{ymax}]
set grid ytics
{panels}
unset multiplot
"""

PANEL = """
set title "{label}"
set object 1 rect from {down},graph 0 to {up},graph 1 behind fc rgb "#ffe0e0" fs solid noborder
plot '{tsv}' index {index} using 1:2 with lines lw 2 lc rgb "#444444" title "attempts reaching the server", \
     '' index {index} using 1:3 with lines lw 2 lc rgb "#2a9d2a" title "calls ending OK", \
     '' index {index} using 1:4 with lines lw 2 lc rgb "#d62728" title "calls failing"
unset object 1
"""


def draw(png, runs):
    tsv = os.path.splitext(png)[0] + ".tsv"
    with open(tsv, "w") as f:
        for k, (label, rows, _, _) in enumerate(runs):
            if k:
                f.write("\n\n")
            f.write(f"# {label}: second\tarrivals\tok\tfailed\n")
            for r in rows:
                f.write(f"{r[0]:.2f}\t{r[1]:.0f}\t{r[2]:.0f}\t{r[3]:.0f}\n")
    if shutil.which("gnuplot") is None:
        print(f"timeline data: {tsv} (no gnuplot: no PNG)")
        return
    panels = "".join(
        PANEL.format(label=label.replace('"', "'"), down=down, up=up, tsv=tsv,
                     index=k)
        for k, (label, _, down, up) in enumerate(runs))
    ymax = max([1.0] + [max(r[1], r[2], r[3]) for _, rows, _, _ in runs
                        for r in rows]) * 1.1
    script = GNUPLOT.format(png=png, panels=panels, ymax=ymax)
    res = subprocess.run(["gnuplot"], input=script, text=True,
                         capture_output=True)
    if res.returncode != 0:
        print(f"gnuplot failed: {res.stderr.strip()}")
        return
    print(f"timeline: {png} (data: {tsv})")


def main(argv):
    json_out, png_out, do_check, runs = None, None, False, []
    i = 0
    while i < len(argv):
        if argv[i] == "--json":
            json_out = argv[i + 1]
            i += 2
        elif argv[i] == "--png":
            png_out = argv[i + 1]
            i += 2
        elif argv[i] == "--check":
            do_check = True
            i += 1
        else:
            label, _, d = argv[i].partition("=")
            runs.append((label, d))
            i += 1
    if len(runs) != 2:
        print(__doc__, file=sys.stderr)
        return 64
    a, b = (analyse(label, d) for label, d in runs)
    print(table(a, b))
    print(summary(a, b))
    if png_out:
        draw(png_out, [timeline(label, d) for label, d in runs])
    problems = check(a, b)
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"runs": [a, b], "check_problems": problems}, f, indent=2)
            f.write("\n")
    if do_check:
        if problems:
            for p in problems:
                print(f"CHECK FAILED: {p}")
            return 1
        print("CHECK PASSED: grpc-resilience sent fewer attempts of outage-time "
              f"calls to the server ({b['outage_attempts']} vs {a['outage_attempts']}), "
              f"and its breaker opened {b['breaker']['C->O']}x and closed "
              f"{b['breaker']['H->C']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
