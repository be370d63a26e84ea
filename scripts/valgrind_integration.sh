#!/usr/bin/env bash
# Runs the integration test binaries under valgrind memcheck: any memory
# error, or a definite/indirect leak, fails. Timing-sensitive tests (those
# whose names say Timing, Deadline, Backoff or Pushback, and the throughput
# tests) are excluded: valgrind runs code 20-50x slower, so their stated
# tolerances do not hold; they run natively in ctest.
set -euo pipefail
build=${1:-build}
exclude='*Timing*:*Deadline*:*Backoff*:*Pushback*:*Threads*:*Storm*:*Budget*:*Concurrent*'
status=0
for bin in "$build"/it_*; do
  [ -x "$bin" ] || continue
  printf -- '-- valgrind %s\n' "$(basename "$bin")"
  if ! valgrind --quiet --error-exitcode=97 --leak-check=full \
      --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
      --suppressions="$(dirname "$0")/valgrind.supp" \
      "$bin" --gtest_filter="-$exclude" --gtest_brief=1 >"$bin.valgrind.log" 2>&1; then
    cat "$bin.valgrind.log"
    status=1
  else
    tail -n 3 "$bin.valgrind.log"
  fi
done
exit $status
