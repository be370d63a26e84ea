#!/usr/bin/env bash
# The tail-latency experiment (bench/tail.cc): what perAttemptTimeout and
# the deadline rule do to latency and to the server's load. Builds
# grpcr_tail in build-exp-tail if needed and runs, 3 seeds each:
#   tail      1% of calls take 200 ms, the rest 1 ms; 200 calls/s, 20 s:
#             no retries; perAttemptTimeout 10 ms with 2 and 3 attempts
#   slow      every call 10x slower (10 ms, 1% 2 s): perAttemptTimeout
#             10 ms, 3 attempts, with the default budget and with the
#             budget effectively off (ratio 10, 10^6 retries/s)
#   deadline  successes take 200 ms, half the calls fail UNAVAILABLE after
#             100 ms, deadline 250 ms, 3 attempts: gRPC's retryPolicy
#             against grpc-resilience (no retry the deadline cannot fit)
# and writes bench/results/tail/ (summary.csv, tail.png) and
# bench/results/tail.md.
#
# usage: bench/tail.sh [--quick]   (--quick: 1 seed, 5 s, results in
#                                   bench/results/tail-quick*)
# TAIL_JOBS (default 4) runs that many at once.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n 2,19p "$0"; exit 0; }
JOBS=${TAIL_JOBS:-4}
BUILD=build-exp-tail
[[ -f $BUILD/CMakeCache.txt ]] || cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $BUILD -j2 --target grpcr_tail >/dev/null
BIN=$BUILD/grpcr_tail

SECONDS_RUN=20 SEEDS="1 2 3"
OUT=bench/results/tail MD=bench/results/tail.md
if [[ $QUICK == 1 ]]; then
  SECONDS_RUN=5 SEEDS=1 OUT=bench/results/tail-quick MD=bench/results/tail-quick.md
fi
rm -rf "$OUT"; mkdir -p "$OUT/runs"

TAIL="--rate 200 --base-ms 1 --tail-frac 0.01 --tail-ms 200 --deadline-ms 1000"
SLOW="--rate 200 --base-ms 10 --tail-frac 0.01 --tail-ms 2000 --deadline-ms 5000"
DEAD="--rate 50 --base-ms 200 --tail-frac 0 --fail-frac 0.5 --fail-ms 100 --deadline-ms 250 --backoff-ms 10 --warm 30"
JOBLIST=$OUT/jobs.txt
: >"$JOBLIST"
for s in $SEEDS; do
  echo "tail none-2 $s --mode none $TAIL" >>"$JOBLIST"
  echo "tail timeout10-2 $s --mode grpcr --attempt-timeout-ms 10 --max-attempts 2 $TAIL" >>"$JOBLIST"
  echo "tail timeout10-3 $s --mode grpcr --attempt-timeout-ms 10 --max-attempts 3 $TAIL" >>"$JOBLIST"
  echo "slow budget $s --mode grpcr --attempt-timeout-ms 10 --max-attempts 3 $SLOW" >>"$JOBLIST"
  echo "slow no-budget $s --mode grpcr --attempt-timeout-ms 10 --max-attempts 3 --budget-ratio 10 --budget-floor 1000000 $SLOW" >>"$JOBLIST"
  echo "deadline grpc $s --mode grpc --max-attempts 3 $DEAD" >>"$JOBLIST"
  echo "deadline grpcr $s --mode grpcr --max-attempts 3 $DEAD" >>"$JOBLIST"
done

run_one() {  # scenario label seed args...
  local scen=$1 label=$2 seed=$3; shift 3
  "$BIN" "$@" --seed "$seed" --seconds "$SECONDS_RUN" --tag "$scen/$label" \
    >"$OUT/runs/${scen}_${label}_s${seed}.csv"
  echo "  done $scen $label seed $seed: $(cut -d, -f4,10,13 "$OUT/runs/${scen}_${label}_s${seed}.csv")" >&2
}
export -f run_one
export BIN OUT SECONDS_RUN
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$(date +%s)
echo "running $(wc -l <"$JOBLIST") runs, $JOBS at a time" >&2
xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _ <"$JOBLIST"
ELAPSED=$(( $(date +%s) - T0 ))
"$BIN" --mode none --seconds 0 --warm 0 --header | head -1 >"$OUT/summary.csv"
cat "$OUT"/runs/*.csv >>"$OUT/summary.csv"

python3 - "$OUT" "$MD" "$START" "$ELAPSED" "$SECONDS_RUN" "$QUICK" <<'PYEOF'
import csv, os, statistics, sys
out, md_path, start, elapsed, secs, quick = sys.argv[1:7]
rel = os.path.basename(os.path.normpath(out))
rows = list(csv.DictReader(open(os.path.join(out, "summary.csv"))))
groups = {}
for r in rows:
    groups.setdefault(r["tag"], []).append(r)
def med(rs, k, fmt="{:.2f}"):
    v = [float(r[k]) for r in rs]
    m = statistics.median(v)
    return fmt.format(m) if len(v) == 1 else f"{fmt.format(m)} ({fmt.format(min(v))}–{fmt.format(max(v))})"
def m(rs, k):
    return statistics.median(float(r[k]) for r in rs)
names = {
    "tail/none-2": "no retries",
    "tail/timeout10-2": "perAttemptTimeout 10 ms, 2 attempts",
    "tail/timeout10-3": "perAttemptTimeout 10 ms, 3 attempts",
    "slow/budget": "perAttemptTimeout 10 ms, 3 attempts, default budget",
    "slow/no-budget": "the same, budget off (ratio 10, 10^6/s)",
    "deadline/grpc": "gRPC retryPolicy, 3 attempts",
    "deadline/grpcr": "grpc-resilience, 3 attempts",
}
order = list(names)
md = ["# Tail latency: per-attempt timeouts and the deadline rule\n\n",
      f"Run on {start} (UTC), {elapsed} s wall time. Command: `bench/tail.sh"
      + (" --quick" if quick == "1" else "") + "`; every run's row in "
      f"`{rel}/summary.csv` (its arguments in `{rel}/jobs.txt`). Medians over "
      f"the seeds, (min–max) in brackets; {secs} s of open-loop Poisson load per run "
      "after a warm-up that is not measured. Latency: every call, start to final "
      "status. Arrivals per call: attempts the server received / calls (1 + the "
      "extra load).\n\n",
      "Hedging (issue 21's first part) is not built yet: these runs measure what "
      "`perAttemptTimeout` and the deadline rule do.\n\n"]
def table(prefix, title, note):
    md.append(f"## {title}\n\n{note}\n\n")
    md.append("| client | runs | arrivals per call | p50 (ms) | p99 (ms) | p99.9 (ms) | OK | DEADLINE_EXCEEDED | UNAVAILABLE | attempt timeouts | retries skipped for the deadline |\n")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    for tag in order:
        if not tag.startswith(prefix) or tag not in groups:
            continue
        rs = groups[tag]
        md.append(f"| {names[tag]} | {len(rs)} | {med(rs,'arrivals_per_call','{:.3f}')} | "
                  f"{med(rs,'p50_ms')} | {med(rs,'p99_ms')} | {med(rs,'p999_ms')} | "
                  f"{med(rs,'ok','{:.0f}')} | {med(rs,'deadline_exceeded','{:.0f}')} | "
                  f"{med(rs,'unavailable','{:.0f}')} | {med(rs,'attempt_timeouts','{:.0f}')} | "
                  f"{med(rs,'retries_skipped_deadline','{:.0f}')} |\n")
    md.append("\n")
table("tail/", "A heavy tail: 1% of calls take 200 ms",
      "The server answers 99% of calls after 1 ms and 1% after 200 ms, independently per "
      "request; 200 calls/s. A 10 ms per-attempt timeout cancels the slow attempt and "
      "retries it after a 1 ms backoff; the retry is fast 99% of the time.")
if "tail/none-2" in groups and "tail/timeout10-2" in groups:
    a, b = groups["tail/none-2"], groups["tail/timeout10-2"]
    md.append(f"p99.9: {m(a,'p999_ms'):.1f} ms without, {m(b,'p999_ms'):.1f} ms with the "
              f"timeout: **{m(a,'p999_ms') / m(b,'p999_ms'):.1f}× lower**, for "
              f"{(m(b,'arrivals_per_call') - 1) * 100:.2f}% extra load at the server.\n\n")
table("slow/", "The server slows down for everyone",
      "Every call 10× slower (10 ms, 1% 2 s): now every attempt outlives the 10 ms timeout, "
      "which is exactly when naive retries or hedges multiply the load. The budget bounds "
      "the retries: ratio 0.1 and 10 retries/s at 200 calls/s allow at most 0.1 + 10/200 = "
      "0.15 extra arrivals per call; with the budget off each call makes all 3 attempts. "
      "Note what a per-attempt timeout does here: every attempt now takes ~10 ms, so "
      "nearly every call ends DEADLINE_EXCEEDED (attempt timeout) although the server "
      "would have answered 10 ms later. A per-attempt timeout bets that slowness is "
      "independent per attempt; under a uniform slowdown it turns slowness into errors "
      "(the budget only keeps it from tripling the load). Set it well above the "
      "method's normal latency; hedging, which keeps the first attempt running, is the "
      "tool for this case.")
table("deadline/", "No retry the deadline cannot fit",
      "Successes take 200 ms (the method's median, learnt in the warm-up); half the calls "
      "fail UNAVAILABLE after 100 ms; the deadline is 250 ms, so a retry after a failure "
      "(at ~110 ms, ~140 ms left) cannot succeed. gRPC retries anyway, and the doomed "
      "retries end on the deadline; grpc-resilience ends such a call at once with its "
      "UNAVAILABLE.")
with open(os.path.join(out, "plot.csv"), "w") as f:
    f.write("client,p50,p99,p999\n")
    for tag in ("tail/none-2", "tail/timeout10-2", "tail/timeout10-3"):
        if tag in groups:
            rs = groups[tag]
            f.write(f"\"{names[tag]}\",{m(rs,'p50_ms')},{m(rs,'p99_ms')},{m(rs,'p999_ms')}\n")
md.append(f"![latency percentiles]({rel}/tail.png)\n\n")
open(md_path, "w").write("".join(md))
PYEOF
gnuplot -e "out='$OUT'" bench/tail.gp
echo "wrote $MD and $OUT/" >&2
