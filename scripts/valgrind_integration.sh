#!/usr/bin/env bash
# Runs every integration suite under valgrind memcheck. A memory error or a
# definite/indirect leak fails (valgrind's exit code 97), and so does a crash.
# Assertion failures are reported but tolerated here: under valgrind code
# runs 20-50x slower, so the tests' stated timing tolerances do not hold;
# every test also runs natively in ctest, where they must pass.
# The 16 x 1,000-call test is left out: it would take minutes under valgrind;
# the soak runs 3,000 calls instead of 200,000.
set -uo pipefail
build=${1:-build}
exclude='*SixteenThreadsOfAThousandCallsAddUp*'
status=0
for bin in "$build"/it_*_test; do
  [ -x "$bin" ] || continue
  log="$bin.valgrind.log"
  printf -- '-- valgrind %s: ' "$(basename "$bin")"
  GRPCR_SOAK_CALLS=3000 valgrind --quiet --error-exitcode=97 --leak-check=full \
      --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
      --suppressions="$(dirname "$0")/valgrind.supp" \
      "$bin" --gtest_filter="-$exclude" --gtest_brief=1 >"$log" 2>&1
  rc=$?
  case $rc in
    0) echo "0 errors, all tests passed" ;;
    1) echo "0 errors; tests failing only under valgrind's slowdown:"
       grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | sort -u | sed 's/^/     /' ;;
    *) echo "FAILED (exit $rc)"; cat "$log"; status=1 ;;
  esac
done
exit $status
