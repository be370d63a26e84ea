#!/usr/bin/env bash
# The success path's cost, in one command: instructions per call (callgrind)
# and wall-clock throughput and latency (1 and 8 client threads) for the five
# variants of bench/filter_bench.cc, plus the breaker's fast-fail against
# gRPC alone. Every figure is a ratio to variant (a), plain gRPC, measured
# in the same run.
#
#   a  plain gRPC (grpcr_register() never called)
#   b  registered, a service config without "resilience"
#   c  registered, retry policy + budget + breaker
#   d  gRPC's own retryPolicy (our filter off on the channel)
#   e  gRPC's retryPolicy + retryThrottling
#
# Instructions: callgrind counts a 3,000-call and a 1,000-call run of each
# variant (one server thread, so that lock spinning between server threads,
# which valgrind's serialised scheduling turns into noise, stays out); the
# per-call figure is the difference / 2,000, so start-up and warm-up cancel.
# Median of REPS runs, with the range.
# Wall clock: ROUNDS rounds; each round runs every variant once, in a
# rotated order, each in its own process; throughput is calls / busy time
# over all rounds, latency percentiles are over all calls.
#
# usage: bench/success_path.sh [--quick] [--reps N] [--rounds N]
# Writes bench/results/success-path/*.csv and bench/results/success-path.md
# (--quick: bench/results/success-path-quick*).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=3 rounds=5 calls1=3000 calls8=8000 ffcalls=5000 suffix=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) reps=1 rounds=1 calls1=500 calls8=800 ffcalls=500 suffix=-quick ;;
    --reps) reps=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "success_path.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
build="$root/build-bench"
out="$root/bench/results/success-path$suffix"
md="$root/bench/results/success-path$suffix.md"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"${BENCH_JOBS:-2}" --target grpcr_filter_bench >/dev/null
bench="$build/grpcr_filter_bench"
command -v valgrind >/dev/null || { echo "success_path.sh: needs valgrind" >&2; exit 1; }

variants=(a b c d e)
echo "success_path: instructions per call (callgrind, $reps run(s) per variant)" >&2
count() {  # count VARIANT CALLS -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" \
    --variant "$1" --calls "$2" --server-threads 1 2>"$tmp/err" >/dev/null
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err"
}
echo "variant,run,instructions_per_call" >"$out/instructions.csv"
for r in $(seq "$reps"); do
  for v in "${variants[@]}"; do
    small=$(count "$v" 1000)
    large=$(count "$v" 3000)
    echo "$v,$r,$(( (large - small) / 2000 ))" >>"$out/instructions.csv"
  done
done

echo "success_path: wall clock ($rounds round(s), 1 and 8 client threads)" >&2
echo "variant,threads,round,calls,wall_ns,failures,latency_file" >"$tmp/wall.csv"
for threads in 1 8; do
  calls=$calls1
  [ "$threads" = 8 ] && calls=$calls8
  for r in $(seq "$rounds"); do
    for k in 0 1 2 3 4; do
      v=${variants[$(( (r + k) % 5 ))]}
      lat="$tmp/lat-$v-$threads-$r"
      line=$("$bench" --variant "$v" --calls "$calls" --threads "$threads" \
               --latencies "$lat")
      IFS=, read -r _ t c wall fail <<<"$line"
      echo "$v,$t,$r,$c,$wall,$fail,$lat" >>"$tmp/wall.csv"
    done
  done
done

echo "success_path: breaker fast-fail against gRPC alone" >&2
echo "against,variant,round,calls,wall_ns,failures,latency_file" >"$tmp/ff.csv"
for r in $(seq "$rounds"); do
  for against in closed failing; do
    for v in a c; do
      lat="$tmp/ff-$against-$v-$r"
      line=$("$bench" --fast-fail "$v" --against "$against" --calls "$ffcalls" \
               --warmup 50 --latencies "$lat")
      IFS=, read -r _ _ c wall fail <<<"$line"
      echo "$against,$v,$r,$c,$wall,$fail,$lat" >>"$tmp/ff.csv"
    done
  done
done

python3 "$root/bench/success_path_report.py" "$out" "$md" "$tmp/wall.csv" "$tmp/ff.csv" \
  "bench/success_path.sh${suffix:+ --quick}" "$reps" "$rounds"
echo "success_path: wrote $md" >&2
