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
  # A forked child (fork_test) inherits another thread's allocations in
  # flight, which memcheck reports as lost at the child's exit: only the
  # parent's errors count, and a few forks suffice there.
  GRPCR_SOAK_CALLS=3000 GRPCR_FORK_TEST_FORKS=5 valgrind --quiet --error-exitcode=97 \
      --child-silent-after-fork=yes --leak-check=full \
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
# The preload's install path (process_policy.cc) runs in an unmodified
# client, not in a test binary: run one such client under memcheck, with a
# process policy that retries against a closed port.
printf -- '-- valgrind preload_plain_client under libgrpcr_preload.so: '
log="$build/preload_plain_client.valgrind.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# (valgrind hands LD_PRELOAD to the program it runs, after its own.)
LD_PRELOAD="$build/libgrpcr_preload.so" \
GRPCR_CONFIG='{"resilience":{"circuitBreaker":{"minimumCalls":3}},"methodConfig":[{"name":[{}],"resilience":{"maxAttempts":3,"initialBackoff":"0.01s"}}]}' \
valgrind --error-exitcode=97 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --suppressions="$(dirname "$0")/valgrind.supp" \
    "$build/preload_plain_client" "127.0.0.1:$port" 5 >"$log" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q "ok 0 of 5" "$log" && grep -q "ERROR SUMMARY: 0 errors" "$log" &&
   [ "$(grep -c 'circuit breaker open' "$log")" = 2 ]; then
  echo "0 errors; 3 calls retried, 2 rejected by the breaker"
else
  echo "FAILED (exit $rc)"; cat "$log"; status=1
fi
exit $status
