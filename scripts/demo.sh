#!/usr/bin/env bash
# The retry-storm demo, in one command, on a fresh Debian 12 machine:
#
#   scripts/demo.sh            # bootstrap, build into build/, run (~1 min)
#   scripts/demo.sh --check    # the same, then assert the outcome (exit 1 if not):
#                              # grpc-resilience sent fewer attempts of the calls
#                              # made during the outage to the server than gRPC's
#                              # retries, and its breaker opened and closed again
#   DEMO_SHORT=1 scripts/demo.sh --check    # 7 s runs (~40 s in all), for CI
#
# An echo server (examples/flaky_server) has an outage of a few seconds and
# comes back, in two scenarios:
#   1. it is up but answers every call UNAVAILABLE (overloaded, or its own
#      dependency is down): the classic retry storm;
#   2. it is DOWN: its port closes, connections are refused, then it comes
#      back on the same port.
# In each, the SAME open-loop load (examples/load_client) runs twice:
#   a. gRPC's own retries: examples/configs/grpc-retry-policy.json, no plugin;
#   b. grpc-resilience: examples/configs/demo.json, grpcr_register() called.
# While each runs, one line per second shows the server's arrivals and the
# client's breaker (read with grpcr-stats from the client's stats port).
# Then bench/storm_report.py computes the numbers from the server's arrival
# log, the client's call log and grpcr-stats, and prints them side by side.
#
# Environment:
#   DEMO_SHORT=1        7 s runs instead of 12 s
#   DEMO_JSON=FILE      also write the computed numbers as JSON (FILE with
#                       .unavailable / .refuse before its .json)
#   DEMO_CHECK=1        same as --check
#   DEMO_OUTAGE_KIND=unavailable|refuse   run only that scenario
#   DEMO_BUILD_DIR=DIR  build directory (default build/)
#   DEMO_OUT=DIR        keep the runs' files there (default: a temp dir)
#   DEMO_SKIP_BUILD=1   use the binaries already in the build directory
#   DEMO_JOBS=N         parallel build jobs (default 2)
#
# Everything listens on 127.0.0.1 only. Exit 0 if every run worked (and, in
# check mode, the assertions held in every scenario).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
check=${DEMO_CHECK:-0}
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "demo: unknown argument '$a' (try --help)" >&2; exit 64 ;;
  esac
done

build=${DEMO_BUILD_DIR:-$root/build}
threads=8 rate=200 deadline_ms=2000
if [ "${DEMO_SHORT:-0}" = 1 ]; then
  duration=7 outage_start=1.5 outage_end=4
else
  duration=12 outage_start=3 outage_end=8
fi

if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

out=${DEMO_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/grpcr-demo.XXXXXX")}
mkdir -p "$out"

if [ "${DEMO_SKIP_BUILD:-0}" != 1 ]; then
  say "bootstrap (dependencies; idempotent)"
  bash "$root/scripts/bootstrap.sh"
  say "build ($build)"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$out/configure.log" 2>&1 || {
      tail -n 30 "$out/configure.log" >&2; echo "demo: configure failed ($out/configure.log)" >&2; exit 1; }
  fi
  cmake --build "$build" -j"${DEMO_JOBS:-2}" --target flaky_server load_client grpcr-stats \
      >"$out/build.log" 2>&1 || {
    tail -n 30 "$out/build.log" >&2; echo "demo: build failed ($out/build.log)" >&2; exit 1; }
  echo "  built flaky_server, load_client, grpcr-stats"
fi
for bin in flaky_server load_client grpcr-stats; do
  if [ ! -x "$build/$bin" ]; then
    echo "demo: $build/$bin is missing: the build failed" >&2
    exit 1
  fi
done

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# Waits until FILE has a line matching REGEX (up to ~10 s); prints it.
wait_line() {
  local file=$1 re=$2 i
  for i in $(seq 100); do
    if grep -m1 -E "$re" "$file" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# One line of live state from the client's stats port.
live_breaker() {
  "$build/grpcr-stats" --prometheus --timeout-ms 500 "127.0.0.1:$1" 2>/dev/null | awk '
    /^grpcr_circuit_breaker_state\{/ { split("CLOSED OPEN HALF_OPEN", n, " "); st = n[$2 + 1] }
    /^grpcr_circuit_breaker_rejected_calls_total\{/ { rej = $2 }
    /^grpcr_attempts_total\{/ { att = $2 }
    /^grpcr_retries_total\{/ { ret = $2 }
    /^grpcr_retry_budget_denied_total\{/ { den = $2 }
    END { if (st != "") printf "%s %d %d %d %d\n", st, rej, att, ret, den }'
}

# run_one DIR CONFIG PLUGIN KIND: one run of the experiment, files into DIR.
run_one() {
  local dir=$1 config=$2 plugin=$3 kind=$4
  mkdir -p "$dir"
  rm -f "$dir"/*
  "$build/flaky_server" --port 0 --outage "$outage_start:$outage_end" --outage-kind "$kind" \
      --duration "$(awk "BEGIN { print $duration + 1.5 }")" \
      --log "$dir/server.log" >"$dir/server.out" 2>"$dir/server.err" &
  local spid=$!
  pids+=("$spid")
  local port
  port=$(wait_line "$dir/server.out" '^listening on ' | sed 's/.*://') || {
    echo "demo: the server did not start" >&2; cat "$dir/server.err" >&2; return 1; }
  # Both runs cap gRPC's reconnect backoff at 1 s (by default it grows to
  # 120 s), so the time to recover measures the retry layers, not gRPC's
  # reconnect schedule.
  "$build/load_client" --target "127.0.0.1:$port" --threads "$threads" --rate "$rate" \
      --duration "$duration" --deadline-ms "$deadline_ms" --config "$config" \
      --plugin "$plugin" --stats-port 0 --name demo --log "$dir/client.log" \
      --max-reconnect-backoff-ms 1000 --linger-ms 60000 --progress \
      >"$dir/client.json" 2>"$dir/client.err" &
  local cpid=$!
  pids+=("$cpid")
  local sport
  sport=$(wait_line "$dir/client.err" '^stats on ' | sed 's/.*://') || {
    echo "demo: the client did not start" >&2; cat "$dir/client.err" >&2; return 1; }

  # Live: a line for each second the server reports, until the client has
  # printed its summary.
  local shown=0 line srv cli b
  until grep -q '^}' "$dir/client.json" 2>/dev/null; do
    if ! kill -0 "$cpid" 2>/dev/null; then
      echo "demo: the client died before its summary" >&2
      tail -n 20 "$dir/client.err" >&2
      return 1
    fi
    sleep 0.25
    while line=$(grep -E '^t=[0-9]+s arrivals=' "$dir/server.err" | sed -n "$((shown + 1))p") \
          && [ -n "$line" ]; do
      shown=$((shown + 1))
      srv=$(echo "$line" | awk '{ sub(/arrivals=/, "", $2); printf "%-5s server: arrivals=%-4s %-4s", $1, $2, ($NF == "[down]" ? "DOWN" : "up") }')
      cli=$(grep -E '^t=[0-9]+s client' "$dir/client.err" | tail -n 1 \
            | awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                     printf "ok=%-4s failed=%-4s fast-failed=%-4s", v["ok"], v["failed"], v["failed_fast_by_breaker"] }' || true)
      [ -n "$cli" ] || cli=$(printf '%-36s' "(starting)")
      if [ "$plugin" = on ] && b=$(live_breaker "$sport") && [ -n "$b" ]; then
        set -- $b
        printf '%s\t%s\n' "$(date +%s.%N)" "$1" >>"$dir/live.tsv"
        printf '  %s | client: %s | breaker %-9s attempts=%-5s retries=%-4s budget-denied=%s\n' \
          "$srv" "$cli" "$1" "$3" "$4" "$5"
      else
        printf '  %s | client: %s\n' "$srv" "$cli"
      fi
    done
  done
  if [ "$plugin" = on ] && ! "$build/grpcr-stats" --json "127.0.0.1:$sport" >"$dir/stats.json"; then
    echo "demo: warning: grpcr-stats could not read the client's stats" >&2
    rm -f "$dir/stats.json"
  fi
  kill -TERM "$cpid" 2>/dev/null || true
  local crc=0 src=0
  wait "$cpid" || crc=$?
  wait "$spid" || src=$?
  grep -E 'server (DOWN|UP)' "$dir/server.err" | sed 's/^/  /'
  tail -n +2 "$dir/server.out" >"$dir/server.json"
  if [ "$crc" != 0 ] || [ "$src" != 0 ]; then
    echo "demo: client exited $crc, server exited $src" >&2
    tail -n 5 "$dir/client.err" "$dir/server.err" >&2
    return 1
  fi
}

# run_scenario KIND N OF: both runs against one kind of outage, then the
# report (and, in check mode, its assertions).
run_scenario() {
  local kind=$1 n=$2 of=$3 what dir
  if [ "$kind" = refuse ]; then
    what="DOWN: its port is closed, connections are refused"
  else
    what="failing: up, but every call is answered UNAVAILABLE (overloaded, or its own dependency is down)"
  fi
  dir="$out/$kind"
  say "scenario $n/$of: the server is $what"
  echo "  echo server on 127.0.0.1, from t=${outage_start}s to t=${outage_end}s, then back on the same port."
  echo "  load: $threads threads, $rate calls/s open loop, deadline ${deadline_ms} ms, ${duration} s."
  echo "  files: $dir"
  say "scenario $n/$of, run 1/2: gRPC's own retries (grpc-retry-policy.json, plugin off)"
  run_one "$dir/grpc" "$root/examples/configs/grpc-retry-policy.json" off "$kind"
  say "scenario $n/$of, run 2/2: grpc-resilience (demo.json, grpcr_register() before grpc_init())"
  run_one "$dir/grpcr" "$root/examples/configs/demo.json" on "$kind"

  say "scenario $n/$of results (computed from the runs' logs: $dir)"
  local report_args=()
  [ -n "${DEMO_JSON:-}" ] && report_args+=(--json "${DEMO_JSON%.json}.$kind.json")
  [ "$check" = 1 ] && report_args+=(--check)
  report_args+=(--png "$dir/timeline.png")
  python3 "$root/bench/storm_report.py" "${report_args[@]}" \
    "gRPC retryPolicy=$dir/grpc" "grpc-resilience=$dir/grpcr"
}

status=0
if [ -n "${DEMO_OUTAGE_KIND:-}" ]; then
  run_scenario "$DEMO_OUTAGE_KIND" 1 1 || status=$?
else
  run_scenario unavailable 1 2 || status=$?
  run_scenario refuse 2 2 || status=$?
fi
exit $status
