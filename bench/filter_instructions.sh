#!/usr/bin/env bash
# Instructions per unary call (client and in-process server together), for
# each variant of grpcr_filter_bench, counted by callgrind: repeatable on a
# shared machine where wall-clock timings are not. The per-call figure is
# the difference between a 2,000-call and a 1,000-call run, divided by
# 1,000, so set-up and warm-up cancel out.
#
# usage: bench/filter_instructions.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
bench="$build/grpcr_filter_bench"
[ -x "$bench" ] || { echo "build $bench first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() {  # count VARIANT CALLS
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
      "$bench" --only "$1" --calls "$2" --rounds 1 >/dev/null 2>"$tmp/err"
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err"
}

names=("no filter" "filter, no config" "filter, full config")
base=0
printf '| variant             | instructions/call | vs base |\n'
printf '|---------------------|------------------:|--------:|\n'
for v in 0 1 2; do
  a=$(count "$v" 1000)
  b=$(count "$v" 2000)
  per=$(( (b - a) / 1000 ))
  [ "$v" = 0 ] && base=$per
  printf '| %-19s | %17d | %6.3fx |\n' "${names[$v]}" "$per" \
    "$(awk "BEGIN { print $per / $base }")"
done
