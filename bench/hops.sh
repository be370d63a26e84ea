#!/usr/bin/env bash
# Retry amplification across three hops (bench/hops.cc). Builds grpcr_hops
# in build-exp-meta if needed and runs, 3 times each (sequentially: the
# gRPC run is CPU-bound at 125 attempts per call):
#   20 calls/s for 10 s:  grpc, grpcr, breaker
#   100 calls/s for 20 s: grpcr, breaker (the floor's share is smaller; the
#                         gRPC run would be 250,000 attempts at S3)
# and writes bench/results/hops/ (raw CSVs, summary.csv, amplification.png)
# and bench/results/hops.md.
#
# usage: bench/hops.sh [--quick]
#   --quick  one run per mode at 20 calls/s for 3 s (under a minute);
#            results in bench/results/hops-quick/ and bench/results/hops-quick.md.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n 2,13p "$0"; exit 0; }
BUILD=build-exp-meta
BIN=$BUILD/grpcr_hops

[[ -f $BUILD/CMakeCache.txt ]] || cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >/dev/null
for try in 1 2 3 4; do
  if cmake --build $BUILD -j1 --target grpcr_hops >/tmp/hops-build.$$ 2>&1; then break; fi
  if [[ $try == 4 ]]; then cat /tmp/hops-build.$$; exit 1; fi
  echo "build failed (try $try), retrying in 60 s" >&2; sleep 60
done
rm -f /tmp/hops-build.$$

if [[ $QUICK == 1 ]]; then
  OUT=bench/results/hops-quick MD=bench/results/hops-quick.md
  RUNS=("grpc 20 3 1" "grpcr 20 3 1" "breaker 20 3 1")
else
  OUT=bench/results/hops MD=bench/results/hops.md
  RUNS=()
  for rep in 1 2 3; do
    RUNS+=("grpc 20 10 $rep" "grpcr 20 10 $rep" "breaker 20 10 $rep"
           "grpcr 100 20 $rep" "breaker 100 20 $rep")
  done
fi
rm -rf "$OUT"
mkdir -p "$OUT/runs"

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$(date +%s)
first=1
for run in "${RUNS[@]}"; do
  read -r mode rate dur rep <<<"$run"
  name="${mode}_R${rate}_r${rep}"
  "$BIN" --mode "$mode" --rate "$rate" --duration "$dur" --seed "$rep" --header \
    >"$OUT/runs/$name.csv" 2>"$OUT/runs/$name.log"
  cat "$OUT/runs/$name.log" >&2
  if [[ $first == 1 ]]; then head -1 "$OUT/runs/$name.csv" >"$OUT/summary.csv"; first=0; fi
  tail -n +2 "$OUT/runs/$name.csv" >>"$OUT/summary.csv"
done
ELAPSED=$(( $(date +%s) - T0 ))

python3 - "$OUT" "$MD" "$QUICK" "$START" "$ELAPSED" <<'EOF'
import csv, os, statistics, sys
out, md_path, quick, start, elapsed = sys.argv[1:6]
quick = quick == "1"
rel = os.path.basename(os.path.normpath(out))
rows = list(csv.DictReader(open(os.path.join(out, "summary.csv"))))
names = {"grpc": "gRPC retryPolicy", "grpcr": "grpc-resilience (budget)",
         "breaker": "grpc-resilience (budget + breaker)"}
# Cells: (mode, rate) -> hop -> rows
cells = {}
for r in rows:
    cells.setdefault((r["mode"], int(float(r["rate"]))), {}).setdefault(int(r["hop"]), []).append(r)

def med(vals, fmt="{:.0f}"):
    vals = [float(v) for v in vals if v not in ("", None)]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"

md = ["# Retry amplification across three hops\n\n",
      f"Run on {start} (UTC), {elapsed} s wall time.\n\n",
      "Command:\n\n```sh\nbench/hops.sh" + (" --quick" if quick else "") + "\n```\n\n",
      "Each run: `build-exp-meta/grpcr_hops --mode M --rate R --duration S --seed REP` "
      f"(raw: `{rel}/runs/*.csv`, one row per hop; all runs: `{rel}/summary.csv`).\n\n",
      "## Setup\n\n",
      "Client → S1 → S2 → S3, three C-core servers in one process on 127.0.0.1; S3 answers "
      "every call UNAVAILABLE at once; S1 and S2 call the next hop (deadline and "
      "cancellation propagated) and return the status they got, as a Trailers-Only answer the "
      "hop above may retry. Every channel (hop1 = client → S1, hop2 = S1 → S2, "
      "hop3 = S2 → S3) has the same policy, maxAttempts 5 with backoff 10 ms ×2 up to 50 ms, "
      "retryable UNAVAILABLE:\n\n"
      "- gRPC: `retryPolicy` on every hop, the filter off on every channel;\n"
      "- grpc-resilience (budget): `methodConfig[].resilience` with the default budget, "
      "ratio 0.1, floor 10 retries/s, window 10 s, one per channel;\n"
      "- grpc-resilience (budget + breaker): the same plus `circuitBreaker: {}` (defaults: "
      "0.5, 20 calls, 10 s window, 30 s open).\n\n"
      "The client is an open loop at a fixed rate (60 s deadline). **Arrivals per call** at "
      "hop k = attempts that reached S_k / client calls.\n\n",
      "**The bound.** Hop k's requests are hop k−1's attempts (each attempt reaching S_{k−1} "
      "makes one call below), and a channel's budget allows at most ratio × requests retries "
      "plus its floor, 10/s × 10 s = 100 retries, granted again each time the window can have "
      "emptied: the window is 20 buckets of 0.5 s aligned to the clock, so a retry leaves it "
      "9.5–10 s after it was spent, and a span of τ seconds gets the floor ⌊τ / 9.5 s⌋ + 1 "
      "times. So "
      "A_0 = N calls, A_k ≤ 1.1 · A_{k−1} + floor, i.e. "
      "A_3 / N ≤ 1.1³ + floor · (1.1² + 1.1 + 1) / N = 1.331 + 3.31 · floor / N. "
      "grpcr_hops prints it per run (columns `bound_arrivals`, `bound_per_call`), with "
      "floor = 100 × (⌊span / 9.5 s⌋ + 1), span = first call to last answer. It is an upper "
      "bound, not an exact one: each window's ratio allowance counts the requests of the "
      "last 9.5–10 s, which may overlap the previous window's.\n\n",
      "## Results\n\nMedians of the runs, (min–max) in brackets.\n\n",
      "| client | rate × duration | calls | hop | arrivals | per call | bound per call | gRPC max (5^k) | "
      "retries (filter) | denied by budget | breaker rejected | breakers opened |\n",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"]
plot = {}
for (mode, rate) in sorted(cells, key=lambda k: (k[1], ["grpc", "grpcr", "breaker"].index(k[0]))):
    hops = cells[(mode, rate)]
    for hop in sorted(hops):
        rs = hops[hop]
        r0 = rs[0]
        md.append(f"| {names[mode]} | {rate}/s × {float(r0['duration_s']):.0f} s | {r0['calls']} | {hop} | "
                  f"{med([r['arrivals'] for r in rs])} | {med([r['arrivals_per_call'] for r in rs], '{:.2f}')} | "
                  f"{med([r['bound_per_call'] for r in rs], '{:.2f}') if mode != 'grpc' else '-'} | "
                  f"{5 ** hop} | {med([r['retries'] for r in rs])} | {med([r['budget_denied'] for r in rs])} | "
                  f"{med([r['breaker_rejected'] for r in rs])} | {med([r['breaker_opened'] for r in rs])} |\n")
        plot.setdefault(f"{mode}_{rate}", {})[hop] = (
            statistics.median(float(r["arrivals_per_call"]) for r in rs),
            statistics.median(float(r["bound_per_call"]) for r in rs))
# Verdict per run: within the bound?
viol = [r for r in rows if r["mode"] != "grpc" and int(r["hop"]) == 3
        and float(r["arrivals"]) > float(r["bound_arrivals"])]
runs3 = [r for r in rows if r["mode"] != "grpc" and int(r["hop"]) == 3]
md.append(f"\ngrpc-resilience runs whose S3 arrivals exceed the printed bound: **{len(viol)} of {len(runs3)}**"
          + (": " + ", ".join(f"{r['mode']} {r['rate']}/s seed {r['seed']} ({r['arrivals']} > {float(r['bound_arrivals']):.0f})" for r in viol) if viol else "")
          + ".\n\n")
md.append(f"![amplification per hop]({rel}/amplification.png)\n\n")
with open(os.path.join(out, "amplification.csv"), "w") as f:
    keys = sorted(plot)
    f.write("hop,grpc_max," + ",".join(f"{k},{k}_bound" for k in keys) + "\n")
    for hop in (1, 2, 3):
        f.write(f"{hop},{5 ** hop}," + ",".join(f"{plot[k][hop][0]:.4f},{plot[k][hop][1]:.4f}" for k in keys) + "\n")
notes = os.path.join(os.path.dirname(os.path.abspath(md_path)), "..", "hops.notes.md")
if not quick and os.path.exists(notes):
    md.append(open(notes).read())
open(md_path, "w").write("".join(md))
EOF
gnuplot -e "out='$OUT'" bench/hops.gp
echo "wrote $MD and $OUT/" >&2
