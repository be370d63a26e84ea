#!/usr/bin/env bash
# What a Prometheus scraper costs the call path: the success-path load of
# bench/filter_bench.cc (variant c, retry policy + budget + breaker, 8
# client threads, unary echo over 127.0.0.1) with and without a thread that
# GETs /metrics (grpcr_metrics_http_start) SCRAPE_HZ times a second on a new
# connection each time. ROUNDS rounds; each runs both, in alternating order,
# each in its own process. The figures, per round, then the median and the
# min-max over the rounds: throughput with scraping over throughput without
# (wall clock), and the process's CPU time per call with scraping over
# without. Both are at the mercy of the machine's other load, so the script
# also counts instructions (callgrind, REPS runs, one server thread as in
# bench/success_path.sh): per call (a 3,000- minus a 1,000-call run, / 2,000)
# and per scrape (250 minus 50 scrapes in a row after the calls, / 200, both
# ends of the scrape counted), and from them the share of the process's work
# that SCRAPE_HZ scrapes a second add at the measured throughput.
#
# usage: bench/scrape_cost.sh [--quick] [--rounds N] [--calls N] [--hz N] [--reps N]
# Env: BENCH_BUILD (build dir, default build-bench), BENCH_JOBS (default 2).
# Writes bench/results/scrape-cost.md and bench/results/scrape-cost/runs.csv
# (--quick: bench/results/scrape-cost-quick*).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=20 calls=15000 hz=10 reps=3 suffix=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=2 calls=3000 reps=1 suffix=-quick ;;
    --reps) reps=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --calls) calls=$2; shift ;;
    --hz) hz=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "scrape_cost.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
build=${BENCH_BUILD:-$root/build-bench}
out="$root/bench/results/scrape-cost$suffix"
md="$root/bench/results/scrape-cost$suffix.md"
mkdir -p "$out"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"${BENCH_JOBS:-2}" --target grpcr_filter_bench >/dev/null
bench="$build/grpcr_filter_bench"
command -v valgrind >/dev/null || { echo "scrape_cost.sh: needs valgrind" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
csv="$out/runs.csv"
echo "round,scraping,calls,wall_ns,failures,cpu_ns,scrapes,scrape_failures,scrape_p50_ns,scrape_max_ns,scrape_bytes" >"$csv"
echo "scrape_cost: $rounds round(s) of $calls calls, 8 client threads, scraping at $hz/s or not" >&2
for r in $(seq "$rounds"); do
  order="0 1"
  [ $((r % 2)) = 0 ] && order="1 0"
  for scraping in $order; do
    if [ "$scraping" = 1 ]; then
      line=$("$bench" --variant c --calls "$calls" --threads 8 --report-cpu --scrape-hz "$hz")
      IFS=, read -r _ _ c wall fail cpu n nfail p50 max bytes <<<"$line"
    else
      line=$("$bench" --variant c --calls "$calls" --threads 8 --report-cpu)
      IFS=, read -r _ _ c wall fail cpu <<<"$line"
      n=0 nfail=0 p50=0 max=0 bytes=0
    fi
    echo "$r,$scraping,$c,$wall,$fail,$cpu,$n,$nfail,$p50,$max,$bytes" >>"$csv"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "scrape_cost: instructions per call and per scrape (callgrind, $reps run(s))" >&2
count() {  # count CALLS SCRAPES -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" \
    --variant c --calls "$1" --server-threads 1 --scrapes "$2" 2>"$tmp/err" >/dev/null
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err"
}
icsv="$out/instructions.csv"
echo "run,instructions_per_call,instructions_per_scrape" >"$icsv"
for r in $(seq "$reps"); do
  base=$(count 1000 50)
  calls3=$(count 3000 50)
  scrapes250=$(count 1000 250)
  echo "$r,$(( (calls3 - base) / 2000 )),$(( (scrapes250 - base) / 200 ))" >>"$icsv"
done

python3 - "$csv" "$md" "bench/scrape_cost.sh${suffix:+ --quick}" "$started" \
  "$load_before" "$load_after" "$hz" "$rounds" "$calls" "$(nproc)" "$icsv" <<'EOF'
import csv, statistics, sys
path, md, command, started, load_before, load_after, hz, rounds, calls, cpus, icsv = sys.argv[1:12]
irows = list(csv.DictReader(open(icsv)))
i_call = statistics.median(int(r["instructions_per_call"]) for r in irows)
i_scrape = statistics.median(int(r["instructions_per_scrape"]) for r in irows)
i_call_rng = (min(int(r["instructions_per_call"]) for r in irows), max(int(r["instructions_per_call"]) for r in irows))
i_scrape_rng = (min(int(r["instructions_per_scrape"]) for r in irows), max(int(r["instructions_per_scrape"]) for r in irows))
rows = list(csv.DictReader(open(path)))
by = {}
for row in rows:
    by.setdefault(int(row["round"]), {})[row["scraping"]] = row
def tput(row):
    return int(row["calls"]) / (int(row["wall_ns"]) / 1e9)
ratios = [tput(r["1"]) / tput(r["0"]) for _, r in sorted(by.items())]
def cpu_per_call_us(row):
    return int(row["cpu_ns"]) / 1e3 / int(row["calls"])
cpu_ratios = [cpu_per_call_us(r["1"]) / cpu_per_call_us(r["0"]) for _, r in sorted(by.items())]
cpu_off = [cpu_per_call_us(r["0"]) for r in by.values()]
cpu_on = [cpu_per_call_us(r["1"]) for r in by.values()]

off = [tput(r["0"]) for r in by.values()]
on = [tput(r["1"]) for r in by.values()]
scraped = [r["1"] for r in by.values()]
scrapes = sum(int(r["scrapes"]) for r in scraped)
scrape_failures = sum(int(r["scrape_failures"]) for r in scraped)
call_failures = sum(int(r["failures"]) for r in rows)
p50s = sorted(int(r["scrape_p50_ns"]) / 1e3 for r in scraped)
maxes = [int(r["scrape_max_ns"]) / 1e3 for r in scraped]
body = max(int(r["scrape_bytes"]) for r in scraped)
med = statistics.median(ratios)
p50 = statistics.median(p50s)
lo, hi = min(ratios), max(ratios)
share = float(hz) * i_scrape / (statistics.median(off) * i_call)
if lo <= 1.0 <= hi:
    reading = (f"1.000 lies inside the rounds' range ({lo:.3f}-{hi:.3f}): on this shared "
               f"{cpus}-CPU machine the scraper's cost is smaller than the run-to-run noise of "
               f"wall-clock throughput, which spans {100 * (hi - lo):.1f} points here, and the "
               "wall clock cannot resolve it; nor can the process's CPU time, which the "
               "machine's other load inflates as much.")
elif hi < 1.0:
    reading = (f"Every round was slower with the scraper ({lo:.3f}-{hi:.3f}): the cost is "
               f"resolved, about {100 * (1 - med):.1f}% of throughput at {hz} scrapes a second.")
else:
    reading = (f"Every round was faster with the scraper ({lo:.3f}-{hi:.3f}), which no cost "
               "explains: it is the noise of this machine, and the cost is below it.")
with open(md, "w") as f:
    f.write(f"""# Scrape cost

Command: `{command}` (run {started}; {cpus} CPUs; load average {load_before} before, {load_after} after; {rounds} wall-clock rounds of {calls} calls each way, {len(irows)} callgrind run(s)).

The success-path load of `bench/filter_bench.cc`: variant (c), retry policy + budget + breaker, 8 client threads, unary echo of 16 bytes over 127.0.0.1, client and C-core server in one process. *Scraping*: the same process also serves `/metrics` (`grpcr_metrics_http_start("127.0.0.1:0", 0, ...)`) and a thread GETs it {hz} times a second while the measured calls run, each time on a new connection, asking for OpenMetrics as Prometheus does. Each round runs both, in alternating order, each in its own process.

- **Throughput with scraping / without: {med:.3f}x**, median of the {len(ratios)} per-round ratios, min-max {lo:.3f}-{hi:.3f} (wall clock).
- **Work added by {hz} scrapes a second: {share * 100:.3f}%** of the process's instructions at the measured throughput (callgrind: {i_scrape:,.0f} instructions per scrape, {i_call:,.0f} per call).

## Wall clock

| | calls/s (median of rounds) | min-max | process CPU µs per call (median) | min-max |
|---|---:|---:|---:|---:|
| no scraper | {statistics.median(off):,.0f} | {min(off):,.0f}-{max(off):,.0f} | {statistics.median(cpu_off):.1f} | {min(cpu_off):.1f}-{max(cpu_off):.1f} |
| scraping at {hz}/s | {statistics.median(on):,.0f} | {min(on):,.0f}-{max(on):,.0f} | {statistics.median(cpu_on):.1f} | {min(cpu_on):.1f}-{max(cpu_on):.1f} |

Throughput with scraping / without, per round: {", ".join(f"{x:.3f}" for x in ratios)}.

CPU per call with scraping / without (user + system time of the process), per round: {", ".join(f"{x:.3f}" for x in cpu_ratios)}; median {statistics.median(cpu_ratios):.3f}x, min-max {min(cpu_ratios):.3f}-{max(cpu_ratios):.3f}.

Scrapes: {scrapes} made, {scrape_failures} failed; {body:,} bytes each (one channel with a breaker and a budget); latency per scrape (connect, request, render, answer, close) median {p50:.0f} µs over the runs' medians, worst {max(maxes):.0f} µs. Calls that failed: {call_failures}.

## Instructions (callgrind)

Median of {len(irows)} run(s), range in brackets, one server thread and one client thread as in bench/success_path.sh: {i_scrape:,.0f} instructions per scrape ({i_scrape_rng[0]:,}-{i_scrape_rng[1]:,}; 250 minus 50 scrapes in a row, / 200; the endpoint and the scraping client together: accept, parse, snapshot, render, send, close) and {i_call:,.0f} per call ({i_call_rng[0]:,}-{i_call_rng[1]:,}; 3,000 minus 1,000 calls, / 2,000; client and server of the echo together). One scrape is the work of {i_scrape / i_call:.1f} calls; {hz} scrapes a second next to {statistics.median(off):,.0f} calls a second add {share * 100:.3f}% to the work.

## Reading it

{reading} The instruction counts resolve it: {share * 100:.3f}% more work at {hz} scrapes a second, which is the throughput a CPU-bound process gives up for them (a little less in truth: the scraping client's half of each scrape is Prometheus's, elsewhere).

Scrapes and calls share no lock, only the CPUs: the endpoint's own threads touch only `grpcr_stats_get`, which holds the registry's lock for the time of one copy, and the call path never takes that lock (it only adds to atomic counters). A scrape took {p50:.0f} µs end to end here.
""")
print(f"scrape_cost: ratio {med:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
      f"{i_scrape:,.0f} instructions/scrape, {i_call:,.0f}/call, {share * 100:.3f}% at {hz}/s; wrote {md}", file=sys.stderr)
EOF
