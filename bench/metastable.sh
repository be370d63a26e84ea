#!/usr/bin/env bash
# The metastable-failure experiment (bench/metastable.cc): gRPC's own
# retries against grpc-resilience with its defaults, after a temporary
# trigger. Builds grpcr_metastable in build-exp-meta if needed, runs
#   main      load 0.8 C, trigger 10 s: grpc, grpcr (defaults with a
#             breaker) and budget (grpcr without the breaker), 3 runs each
#   boundary  trigger 1 and 10 s x load 0.5, 0.7, 0.8, 0.9 C: grpc and
#             grpcr, 3 runs each
#   blackhole load 0.8 C, 10 s in which the server answers nothing, 200 ms
#             deadlines: grpcr (defaults) and grpcr-slow (slow-call
#             settings), 3 runs each, 40 s after
#   slow      load 0.8 C, service time x10 for 20 s, no internal limit (no
#             errors at all): grpcr, grpcr-slow and budget, 3 runs each
# and writes bench/results/metastable/ (raw timelines, summary.csv,
# timeline.png, boundary.png) and bench/results/metastable.md.
#
# usage: bench/metastable.sh [--quick]
#   --quick  one run per mode of a 3 s trigger at 0.8 C, in parallel (under
#            a minute); results in bench/results/metastable-quick/ and
#            bench/results/metastable-quick.md, the committed ones untouched.
# METASTABLE_JOBS (default 6) runs that many experiments at once: each is
# timer-bound (its server sleeps on its own clock, it uses ~0.15 core), so
# they hardly disturb each other on 2 cores; summary.csv records each run's CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n 2,19p "$0"; exit 0; }
JOBS=${METASTABLE_JOBS:-6}
BUILD=build-exp-meta
BIN=$BUILD/grpcr_metastable

# ---- build (-j1: the machine is shared); another engineer's in-progress
# edit may break the library for a moment: retry a few times.
[[ -f $BUILD/CMakeCache.txt ]] || cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >/dev/null
for try in 1 2 3 4; do
  if cmake --build $BUILD -j1 --target grpcr_metastable >/tmp/metastable-build.$$ 2>&1; then break; fi
  if [[ $try == 4 ]]; then cat /tmp/metastable-build.$$; exit 1; fi
  echo "build failed (try $try), retrying in 60 s" >&2; sleep 60
done
rm -f /tmp/metastable-build.$$

# ---- the model's parameters (the binary's defaults, stated here as run)
WORKERS=10 SERVICE_MS=50 LIMIT_MS=500 DEADLINE_MS=1500 FACTOR=3 ATTEMPTS=5
WARMUP=3 AFTER=70
if [[ $QUICK == 1 ]]; then
  OUT=bench/results/metastable-quick MD=bench/results/metastable-quick.md
  WARMUP=2 AFTER=40
else
  OUT=bench/results/metastable MD=bench/results/metastable.md
fi
rm -rf "$OUT"
mkdir -p "$OUT/runs"

# One job per line: set mode load trigger rep.
JOBLIST=$OUT/jobs.txt
: >"$JOBLIST"
if [[ $QUICK == 1 ]]; then
  for m in grpc grpcr budget; do echo "main $m 0.8 3 1" >>"$JOBLIST"; done
else
  for rep in 1 2 3; do
    for m in grpc grpcr budget; do echo "main $m 0.8 10 $rep" >>"$JOBLIST"; done
    for m in grpcr grpcr-slow; do echo "blackhole $m 0.8 10 $rep" >>"$JOBLIST"; done
    for m in grpcr grpcr-slow budget; do echo "slow $m 0.8 20 $rep" >>"$JOBLIST"; done
    for T in 1 10; do
      for load in 0.5 0.7 0.8 0.9; do
        [[ $T == 10 && $load == 0.8 ]] && continue  # the main runs are this cell
        for m in grpc grpcr; do echo "boundary $m $load $T $rep" >>"$JOBLIST"; done
      done
    done
  done
fi

# The slow-call settings of the grpcr-slow client: a call 5x the normal
# service time is slow, half of them slow opens, short open periods.
SLOW_BREAKER='"slowCallDurationThreshold":"0.25s","slowCallRateThreshold":0.5,"openDuration":"2s","maxOpenDuration":"8s"'

run_one() {  # set mode load trigger rep
  local set=$1 mode=$2 load=$3 T=$4 rep=$5
  local name="${mode}_L${load}_T${T}_r${rep}" after=$AFTER tag=$1
  local -a extra=(--limit-ms "$LIMIT_MS" --deadline-ms "$DEADLINE_MS" --factor "$FACTOR")
  case $set in
    blackhole) extra=(--blackhole --limit-ms "$LIMIT_MS" --deadline-ms 200 --factor 1)
               after=40 name="${set}_${name}" ;;
    slow) extra=(--limit-ms 1000000000 --deadline-ms "$DEADLINE_MS" --factor 10)
          after=40 name="${set}_${name}" ;;
  esac
  if [[ $mode == grpcr-slow ]]; then  # the binary's grpcr, with the settings
    extra+=(--breaker "$SLOW_BREAKER")
    mode=grpcr tag="$set-slowcfg"
  fi
  "$BIN" --mode "$mode" --load "$load" --trigger "$T" --seed "$rep" \
    --warmup "$WARMUP" --after "$after" --workers "$WORKERS" \
    --service-ms "$SERVICE_MS" "${extra[@]}" --max-attempts "$ATTEMPTS" \
    --tag "$tag" --timeline "$OUT/runs/$name.csv" >"$OUT/runs/$name.sum"
  echo "  done $name: $(cut -d, -f2-4,10,13 "$OUT/runs/$name.sum")" >&2
}
export -f run_one
export SLOW_BREAKER BIN OUT WARMUP AFTER WORKERS SERVICE_MS LIMIT_MS DEADLINE_MS FACTOR ATTEMPTS

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
echo "running $(wc -l <"$JOBLIST") experiments, $JOBS at a time" >&2
xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _ <"$JOBLIST"
ELAPSED=$(( $(date +%s) - T0 ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

"$BIN" --header --mode none --warmup 0 --trigger 0 --after 0.1 | head -1 >"$OUT/summary.csv"
cat "$OUT"/runs/*.sum >>"$OUT/summary.csv"

# ---- tables and plot data (medians over the runs of a cell, with the range)
python3 - "$OUT" "$MD" "$QUICK" "$START" "$ELAPSED" "$JOBS" "$LOAD_BEFORE" "$LOAD_AFTER" \
  "$WORKERS $SERVICE_MS $LIMIT_MS $DEADLINE_MS $FACTOR $ATTEMPTS $WARMUP $AFTER" "$SLOW_BREAKER" <<'EOF'
import csv, os, statistics, sys
out, md_path, quick, start, elapsed, jobs, load_before, load_after, params, slow_breaker = sys.argv[1:11]
quick = quick == "1"
W, S, L, D, F, A, WARM, AFTER = params.split()
rel = os.path.basename(os.path.normpath(out))  # links are relative to the .md
all_rows = list(csv.DictReader(open(os.path.join(out, "summary.csv"))))
# The main and boundary cells; the black-hole and slow-dependency runs
# (tags blackhole*, slow*) have a section of their own.
rows = [r for r in all_rows if r["tag"] in ("main", "boundary", "-")]
extra_rows = [r for r in all_rows if r not in rows]
NR = 1e9  # "not recovered" sorts after every recovery time

def num(r, k):
    v = r[k]
    return float(v) if v not in ("", "-") else None

def rec(r):
    v = float(r["recovery_s"])
    return NR if v < 0 else v

def med(vals, fmt="{:.0f}"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"

def med_rec(rs):
    vals = sorted(rec(r) for r in rs)
    m = statistics.median(vals)
    show = lambda v: "never" if v >= NR else f"{v:.0f} s"
    txt = show(m)
    if len(vals) > 1:
        txt += f" ({show(vals[0])}–{show(vals[-1])})"
    n_ok = sum(v < NR for v in vals)
    return txt, n_ok, len(vals), m

# Cells: (mode, load, trigger) -> runs; the main runs count in the boundary.
cells = {}
for r in rows:
    cells.setdefault((r["mode"], float(r["load"]), float(r["trigger_s"])), []).append(r)

mode_names = {"grpc": "gRPC retryPolicy", "grpcr": "grpc-resilience (defaults)",
              "budget": "grpc-resilience, budget only", "none": "no retries"}
trig = 3.0 if quick else 10.0
main = [(m, cells[(m, 0.8, trig)]) for m in ("grpc", "grpcr", "budget") if (m, 0.8, trig) in cells]

md = []
md.append("# Metastable failure: gRPC retries vs grpc-resilience\n\n")
md.append(f"Run on {start} (UTC), {elapsed} s wall time, {jobs} experiments at a time; "
          f"load average before/after: {load_before} / {load_after}.\n\n")
md.append("Command:\n\n```sh\nbench/metastable.sh" + (" --quick" if quick else "") + "\n```\n\n")
md.append("Each run: `build-exp-meta/grpcr_metastable --mode M --load X --trigger T --seed REP "
          f"--warmup {WARM} --after {AFTER} --workers {W} --service-ms {S} --limit-ms {L} "
          f"--deadline-ms {D} --factor {F} --max-attempts {A}` (one run per line of "
          f"`{rel}/jobs.txt`: set, mode, load, trigger, seed; raw timelines `{rel}/runs/*.csv`, one row per run in "
          f"`{rel}/summary.csv`).\n\n")
cap = int(W) * 1000 / float(S)
md.append("## Model and parameters\n\n")
md.append(f"- Server: a C-core server on 127.0.0.1 with **W = {W} workers**, service time "
          f"**s = {S} ms** (a sleep), so capacity **C = {cap:.0f} calls/s**; a FIFO queue; "
          f"the handler's internal limit **L = {L} ms**: a request whose queue wait + service "
          "exceeded L is answered UNAVAILABLE (Trailers-Only) after its work is done. The "
          "server never checks whether the client still waits.\n"
          f"- Client: Poisson arrivals at load × C, **deadline D = {D} ms** per call, one channel.\n"
          f"- Trigger: service time × {F} for T seconds, starting {WARM} s into the run; "
          f"then {AFTER} s of observation.\n"
          f"- gRPC: `retryPolicy` maxAttempts {A}, initialBackoff 0.1s, maxBackoff 10s, "
          "multiplier 2, UNAVAILABLE; the filter off (`grpc.resilience.enabled` = 0).\n"
          f"- grpc-resilience (defaults): `methodConfig[].resilience` {{maxAttempts {A}, "
          "retryableStatusCodes [UNAVAILABLE]} (so backoff 0.1 s ×2, FULL jitter), the "
          "default budget (ratio 0.1, 10 retries/s, 10 s window), `circuitBreaker: {}` "
          "(threshold 0.5, 20 calls, 10 s window, openDuration 30 s ×2 per reopening, 1 probe, "
          "**adaptive throttling k 3 over 2 s**).\n"
          "- budget only: the same without the `circuitBreaker` block.\n\n")
md.append("**Recovery time**: seconds from the end of the trigger to the start of the first "
          "1 s bucket from which 3 consecutive 1 s buckets each have goodput (calls finishing "
          "OK in that second) ≥ 90% of the calls offered in that second; *never* if that does "
          f"not happen within the {AFTER} s observed. Utilisation: worker busy time / "
          f"(W × {AFTER} s) after the trigger. Tail: the last 10 s of the run.\n\n")

md.append(f"## Main result: load 0.8 C, trigger {trig:.0f} s\n\n")
md.append("Medians over the runs, (min–max) in brackets.\n\n")
md.append("| client | runs | recovered | time to recover | goodput from the trigger's start / offered | goodput after trigger / offered | "
          "goodput, last 10 s / offered | server arrivals/s, last 10 s | worker utilisation after | "
          "server arrivals (all) | retries (filter) | retries denied by budget | breaker rejected (+ throttled) | "
          "breaker transitions | breaker states seen |\n")
md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
for m, rs in main:
    t, n_ok, n, _ = med_rec(rs)
    paths = sorted(set(r["breaker_path"] for r in rs))
    md.append(f"| {mode_names[m]} | {n} | {n_ok}/{n} | {t} | "
              f"{med([num(r,'goodput_ratio_from_trigger') for r in rs], '{:.2f}')} | "
              f"{med([num(r,'goodput_ratio_after') for r in rs], '{:.2f}')} | "
              f"{med([num(r,'goodput_ratio_tail') for r in rs], '{:.2f}')} | "
              f"{med([num(r,'arrivals_per_s_tail') for r in rs])} | "
              f"{med([num(r,'utilisation_after') for r in rs], '{:.2f}')} | "
              f"{med([num(r,'server_arrivals') for r in rs])} | "
              f"{med([num(r,'retries') for r in rs])} | "
              f"{med([num(r,'budget_denied') for r in rs])} | "
              f"{med([num(r,'breaker_rejected') for r in rs])} (+ {med([num(r,'throttled') for r in rs])}) | "
              f"{med([num(r,'breaker_transitions') for r in rs])} | "
              f"{'; '.join(p for p in paths if p != '-') or '-'} |\n")
md.append("\n`retries` and the budget/breaker columns come from the filter's stats "
          "(read in process with `grpcr_stats_get`); gRPC's own retries "
          "are the server arrivals beyond the calls offered (the `server_retry_arrivals` "
          "column of summary.csv counts the `grpc-previous-rpc-attempts` header, which only "
          "gRPC's retries carry: see the note at the end). Offered per run: "
          f"{med([num(r,'offered') for _, rs in main for r in rs])} calls.\n\n")
md.append(f"\n![goodput timeline]({rel}/timeline.png)\n\n")

if not quick:
    md.append("\n## Boundary: trigger length × load\n\n")
    md.append("Median time to recover after the trigger ends (3 runs per cell; "
              "`k/3` = runs that recovered within the observation window).\n\n")
    loads = sorted({k[1] for k in cells})
    trigs = sorted({k[2] for k in cells})
    md.append("| trigger | client | " + " | ".join(f"load {l:.1f} C" for l in loads) + " |\n")
    md.append("|---|---|" + "---:|" * len(loads) + "\n")
    bcsv = open(os.path.join(out, "boundary.csv"), "w")
    bcsv.write("mode,trigger_s,load,runs,recovered,recovery_median_s,recovery_min_s,recovery_max_s,goodput_ratio_tail_median\n")
    for T in trigs:
        for m in ("grpc", "grpcr"):
            cellt = []
            for l in loads:
                rs = cells.get((m, l, T))
                if not rs:
                    cellt.append("-"); continue
                t, n_ok, n, mv = med_rec(rs)
                cellt.append(f"{t}, {n_ok}/{n}")
                vals = sorted(rec(r) for r in rs)
                f = lambda v: "" if v >= NR else f"{v:.0f}"
                tail = statistics.median(float(r["goodput_ratio_tail"]) for r in rs)
                bcsv.write(f"{m},{T:g},{l:g},{n},{n_ok},{f(mv)},{f(vals[0])},{f(vals[-1])},{tail:.3f}\n")
            md.append(f"| {T:g} s | {mode_names[m]} | " + " | ".join(cellt) + " |\n")
    bcsv.close()
    md.append("\n![boundary](metastable/boundary.png)\n\n")
    md.append("\nRaw: `metastable/boundary.csv` (medians), `metastable/summary.csv` (every run).\n\n")

# Plot data: per-second timeline of the first run of each main mode.
series = {}
for m, rs in main:
    r = sorted(rs, key=lambda r: int(r["seed"]))[0]
    name = f"{m}_L{float(r['load']):g}_T{float(r['trigger_s']):g}_r{r['seed']}"
    path = os.path.join(out, "runs", name + ".csv")
    sec = {}
    for b in csv.DictReader(open(path)):
        s = int(float(b["t_s"]) + 1e-9)
        d = sec.setdefault(s, {"offered": 0, "goodput": 0, "arrivals": 0, "queue": 0, "service": 0})
        d["offered"] += int(b["offered"]); d["goodput"] += int(b["goodput"])
        d["arrivals"] += int(b["arrivals"]); d["queue"] = max(d["queue"], int(b["queue"]))
        d["service"] = max(d["service"], float(b["service_ms"]))
    series[m] = sec
with open(os.path.join(out, "timeline_main.csv"), "w") as f:
    modes = [m for m, _ in main]
    f.write("t_s,service_ms," + ",".join(f"offered_{m},goodput_{m},arrivals_{m},queue_max_{m}" for m in modes) + "\n")
    for s in sorted(series[modes[0]]):
        f.write(f"{s},{series[modes[0]][s]['service']:.0f}," + ",".join(
            f"{series[m][s]['offered']},{series[m][s]['goodput']},{series[m][s]['arrivals']},{series[m][s]['queue']}"
            for m in modes) + "\n")
with open(os.path.join(out, "plot.env"), "w") as f:
    f.write(f"{float(WARM):g} {float(WARM) + trig:g}\n")

if extra_rows:
    md.append("\n## Black-holed and slow dependencies\n\n")
    md.append("Load 0.8 C, 3 runs per client, 40 s observed after the trigger. "
              "**Black hole**: for 10 s the server takes every request and never answers; "
              "calls carry a 200 ms deadline. **Slow dependency**: for 20 s the service time "
              "is ×10 (capacity 20 calls/s) and the server has no internal limit, so it never "
              "fails a call: it only gets slow. Clients: grpc-resilience with its defaults "
              "(`circuitBreaker: {}`), the same with slow-call settings "
              f"(`{slow_breaker}`), and the budget alone.\n\n")
    md.append("First OPEN: seconds from the trigger's start to the first 100 ms sample reading OPEN. "
              "Server arrivals after OPEN: attempts that reached the server during the trigger from "
              "then on (probes, and calls let through while CLOSED again). Closed after: seconds from "
              "the trigger's end until the breaker reads CLOSED for good (0: CLOSED when it ended). "
              "Open period: the breaker's last open period.\n\n")
    md.append("| scenario | client | runs | recovered | time to recover | goodput from the trigger's start / offered | "
              "first OPEN (s) | calls offered before OPEN | server arrivals in the trigger | of those after OPEN | "
              "server queue, max | throttled | closed after trigger end (s) | last open period (s) |\n")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    names = {"grpcr": "defaults", "grpcr-slow": "slow-call settings", "budget": "budget only"}
    order = list(names)
    groups = {}
    for r in extra_rows:
        scen = "black hole" if r["tag"].startswith("blackhole") else "slow dependency"
        cfg = "grpcr-slow" if r["tag"].endswith("-slowcfg") else r["mode"]
        groups.setdefault((scen, cfg), []).append(r)
    def did_open(r):
        v = num(r, "first_open_s")
        return v is not None and v >= 0
    def opened(rs, k, fmt="{:.0f}"):
        return med([num(r, k) for r in rs if did_open(r)], fmt)
    for key in sorted(groups, key=lambda k: (k[0], order.index(k[1]))):
        scen, cfg = key
        rs = groups[key]
        t, n_ok, n, _ = med_rec(rs)
        n_open = sum(1 for r in rs if did_open(r))
        fo = "never" if not n_open else opened(rs, "first_open_s", "{:.1f}") + (
            f" ({n_open}/{n} opened)" if n_open < n else "")
        md.append(f"| {scen} | {names[cfg]} | {n} | {n_ok}/{n} | {t} | "
                  f"{med([num(r,'goodput_ratio_from_trigger') for r in rs], '{:.2f}')} | "
                  f"{fo} | {opened(rs, 'offered_before_open') if n_open else '-'} | "
                  f"{med([num(r,'trigger_arrivals') for r in rs])} | "
                  f"{opened(rs, 'arrivals_after_open') if n_open else '-'} | "
                  f"{med([num(r,'queue_max') for r in rs])} | {med([num(r,'throttled') for r in rs])} | "
                  f"{opened(rs, 'closed_after_s', '{:.1f}') if n_open else '-'} | "
                  f"{opened(rs, 'open_period_s', '{:.1f}') if n_open else '-'} |\n")
    # Plot data: the slow-dependency runs of seed 1, per second.
    sd = {}
    for cfg in order:
        path = os.path.join(out, "runs", f"slow_{cfg}_L0.8_T20_r1.csv")
        if not os.path.exists(path):
            continue
        sec = {}
        for b in csv.DictReader(open(path)):
            s_ = int(float(b["t_s"]) + 1e-9)
            d = sec.setdefault(s_, {"offered": 0, "goodput": 0, "arrivals": 0, "queue": 0})
            for k in ("offered", "goodput", "arrivals"):
                d[k] += int(b[k])
            d["queue"] = max(d["queue"], int(b["queue"]))
        sd[cfg] = sec
    cfgs = [c for c in order if c in sd]
    if len(cfgs) == len(order):
        with open(os.path.join(out, "slowdep.csv"), "w") as f:
            f.write("t_s," + ",".join(f"offered_{c},goodput_{c},arrivals_{c},queue_{c}" for c in cfgs) + "\n")
            for s_ in sorted(sd[cfgs[0]]):
                f.write(f"{s_}," + ",".join(
                    ",".join(str(sd[c].get(s_, {}).get(k, 0)) for k in ("offered", "goodput", "arrivals", "queue"))
                    for c in cfgs) + "\n")
        md.append(f"\n![slow dependency]({rel}/slowdep.png)\n\n")

cpu = [float(r["cpu_s"]) for r in all_rows]
md.append(f"\nCPU per run (whole process, client + server): median {statistics.median(cpu):.1f} s, "
          f"max {max(cpu):.1f} s, for {float(WARM) + float(AFTER):.0f} s + T of wall time: "
          "the experiment is bound by its timers, not by the 2 cores.\n\n")
notes = os.path.join(os.path.dirname(os.path.abspath(md_path)), "..",
                     "metastable.notes.md" if not quick else "metastable.notes-quick.md")
if os.path.exists(notes):
    md.append("\n" + open(notes).read())
open(md_path, "w").write("".join(md))
EOF

read -r TRIG_FROM TRIG_TO <"$OUT/plot.env"
gnuplot -e "out='$OUT'; trig_from=$TRIG_FROM; trig_to=$TRIG_TO; quick=$QUICK" bench/metastable.gp
if [[ -f $OUT/slowdep.csv ]]; then
  gnuplot -e "out='$OUT'; trig_from=$WARMUP; trig_to=$((WARMUP + 20))" bench/slowdep.gp
fi
rm -f "$OUT/plot.env"
echo "wrote $MD and $OUT/" >&2
