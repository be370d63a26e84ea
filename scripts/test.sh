#!/usr/bin/env bash
# The test command: from a fresh Debian 12 machine, installs what is missing,
# builds, and runs every suite:
#   1. unit + integration tests (ctest), including promtool on the exporter;
#   2. the C core's unit tests under ThreadSanitizer and under ASan+UBSan;
#   3. the integration suites under valgrind memcheck (zero errors, no leaks);
#   4. the short demo in check mode (grpc-resilience sends fewer attempts to a
#      down server than gRPC's own retries, and its breaker opens and closes).
# Set GRPCR_TEST_QUICK=1 to run step 1 only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==== %s\n' "$*"; }

step "bootstrap"
bash scripts/bootstrap.sh

step "build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

step "unit and integration tests"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 300)

if [ "${GRPCR_TEST_QUICK:-0}" = 1 ]; then exit 0; fi

for san in thread address,undefined; do
  dir="build-san-${san//,/-}"
  step "core unit tests under -fsanitize=$san ($dir/)"
  cmake -S . -B "$dir" -DGRPCR_BUILD_SHIM=OFF -DGRPCR_BUILD_BENCH=OFF \
        -DGRPCR_SANITIZE="$san" -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && TSAN_OPTIONS=halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --output-on-failure -j"$jobs" -L unit)
done

step "integration suites under valgrind memcheck"
bash scripts/valgrind_integration.sh build

if [ -x scripts/demo.sh ] || [ -f scripts/demo.sh ]; then
  step "short demo, check mode"
  DEMO_SHORT=1 DEMO_CHECK=1 bash scripts/demo.sh
fi
step "all suites passed"
