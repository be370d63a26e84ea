#!/usr/bin/env bash
# The test command: from a fresh Debian 12 machine, installs what is missing,
# builds, and runs every suite:
#   1. unit + integration tests (ctest), including promtool on the exporter
#      and a real Prometheus scraping preloaded clients; the alert rules'
#      unit tests and the dashboard (scripts/check_observability.sh); every
#      relative link and anchor in the docs (scripts/check_links.py); the
#      install test and the Debian package test (test/install, test/package);
#   2. the C core's unit tests under ThreadSanitizer, and every suite (core,
#      shim, integration) under ASan+UBSan with LeakSanitizer;
#   3. libFuzzer on the core's parsers, 60 s per target (scripts/fuzz.sh);
#   4. the integration suites under valgrind memcheck (zero errors, no leaks);
#   5. the short demo in check mode (grpc-resilience sends fewer attempts to a
#      down server than gRPC's own retries, and its breaker opens and closes).
# Set GRPCR_TEST_QUICK=1 to run step 1 only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==== %s\n' "$*"; }

# Every ctest run's tally, added up for the closing line.
passed=0 failed=0 skipped=0
run_ctest() {
  local log
  log=$(mktemp)
  set +e
  ctest "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local line
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    local f t
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
    t=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
    local k
    k=$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)' "$log" || true)
    passed=$((passed + t - f - k)) failed=$((failed + f)) skipped=$((skipped + k))
  fi
  rm -f "$log"
  if [ "$rc" != 0 ]; then
    echo "tests: $passed passed, $((failed > 0 ? failed : 1)) failed, $skipped skipped"
    exit "$rc"
  fi
}

step "bootstrap"
bash scripts/bootstrap.sh

step "build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

step "unit and integration tests"
run_ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300

# The operators' examples: promtool checks the Prometheus config and rules
# and runs the alert unit tests; the dashboard's JSON and every metric name
# the examples use are checked against the catalog (src/metrics.c).
step "alert rules and dashboard (scripts/check_observability.sh)"
if bash scripts/check_observability.sh; then
  passed=$((passed + 1))
else
  rc=$?
  echo "tests: $passed passed, $((failed + 1)) failed, $skipped skipped"
  exit "$rc"
fi

# Every relative link and anchor in README.md and the manual (docs/*.md),
# bench/README.md and examples/**/README.md resolves.
step "documentation links (scripts/check_links.py)"
if python3 scripts/check_links.py; then
  passed=$((passed + 1))
else
  rc=$?
  echo "tests: $passed passed, $((failed + 1)) failed, $skipped skipped"
  exit "$rc"
fi

# Installs build/ into a temporary prefix, builds a consumer with CMake and
# with pkg-config, runs it, moves the prefix and builds it again.
step "install and build a consumer (test/install/run.sh)"
if bash test/install/run.sh build; then
  passed=$((passed + 1))
else
  rc=$?
  echo "tests: $passed passed, $((failed + 1)) failed, $skipped skipped"
  exit "$rc"
fi

# Builds the .deb from build/ (cpack -G DEB), checks its control file (the
# exact libgrpc pin) and contents, installs it with dpkg into a scratch
# root, builds a consumer and runs grpcr-run from there, and removes it.
step "Debian package (test/package/run.sh)"
if bash test/package/run.sh build; then
  passed=$((passed + 1))
else
  rc=$?
  echo "tests: $passed passed, $((failed + 1)) failed, $skipped skipped"
  exit "$rc"
fi

if [ "${GRPCR_TEST_QUICK:-0}" = 1 ]; then
  echo "tests: $passed passed, $failed failed, $skipped skipped"
  exit 0
fi

# TSan on the core only: the shim runs on gRPC's threads and
# synchronisation, and an uninstrumented libgrpc would make every
# cross-thread hand-off inside it a false report.
step "core unit tests under -fsanitize=thread (build-san-thread/)"
cmake -S . -B build-san-thread -DGRPCR_BUILD_SHIM=OFF -DGRPCR_BUILD_BENCH=OFF \
      -DGRPCR_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-san-thread -j"$jobs"
TSAN_OPTIONS=halt_on_error=1 \
    run_ctest --test-dir build-san-thread --output-on-failure -j"$jobs" -L unit

# ASan+UBSan (with LeakSanitizer) on everything we compile: the core, the
# shim, the stats service and every integration suite against a real
# server. libgrpc itself is not instrumented: its own memory errors are not
# seen, but every allocation is (malloc is intercepted), so a leak or a
# use-after-free of gRPC memory caused by the filter is.
step "all suites under -fsanitize=address,undefined (build-san-address-undefined/)"
cmake -S . -B build-san-address-undefined -DGRPCR_BUILD_BENCH=OFF \
      -DGRPCR_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-san-address-undefined -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 GRPCR_SOAK_CALLS=50000 \
    run_ctest --test-dir build-san-address-undefined --output-on-failure \
    -j"$jobs" --timeout 300

# libFuzzer with ASan+UBSan and LeakSanitizer on the core's parsers (config
# validation, JSON and config, pushback, the stats request): the committed
# corpus as regression inputs, then 60 s of fuzzing per target (~5 min).
step "fuzzing (scripts/fuzz.sh, 60 s per target)"
if FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash scripts/fuzz.sh; then
  passed=$((passed + 1))
else
  rc=$?
  echo "tests: $passed passed, $((failed + 1)) failed, $skipped skipped"
  exit "$rc"
fi

step "integration suites under valgrind memcheck"
bash scripts/valgrind_integration.sh build

step "short demo, check mode"
DEMO_SHORT=1 DEMO_CHECK=1 bash scripts/demo.sh
step "all suites passed"
echo "tests: $passed passed, $failed failed, $skipped skipped"
