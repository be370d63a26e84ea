#!/usr/bin/env bash
# Fuzzing with libFuzzer (clang), ASan+UBSan and LeakSanitizer.
#
#   scripts/fuzz.sh                    every target, 60 s each (CI)
#   FUZZ_SECONDS=600 scripts/fuzz.sh   the longer release check
#   scripts/fuzz.sh json_config ...    only the targets named
#
# Builds the targets in test/fuzz/*_fuzz.c into build-fuzz/ (git ignores
# build*/) against the policy core (src/*.c compiled directly, no CMake and
# no gRPC) with -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all;
# the stats target also gets protoc-c's C code for proto/grpcr/v1/stats.proto,
# generated into build-fuzz/gen/ (never committed), the service's encoder and
# grpcr-stats' decoder. Then, for each target:
#   1. its committed corpus (test/fuzz/corpus/<target>/) runs once as
#      regression inputs;
#   2. it fuzzes for FUZZ_SECONDS on a copy of that corpus in
#      build-fuzz/work/<target>/ (the repository is never written to), with
#      the config dictionary for the config and JSON targets.
# One line per target says how many inputs it ran. Any crash, sanitizer
# report, leak, timeout (-timeout=10 s for one input) or out-of-memory
# (-rss_limit_mb=2048) fails the script; the input that did it is in
# build-fuzz/artifacts/<target>/ and the log in build-fuzz/logs/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

secs=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
out=build-fuzz
all_targets=(config_validate json_config pushback stats_request)
dict_targets=" config_validate json_config "

say() { printf 'fuzz: %s\n' "$*"; }

case "$secs" in
  '' | *[!0-9]* | 0*) say "error: FUZZ_SECONDS must be a whole number of seconds > 0 (0 would mean no limit), not '$secs'"; exit 2 ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -f "test/fuzz/${t}_fuzz.c" ] || { say "error: no target $t (test/fuzz/${t}_fuzz.c)"; exit 2; }
done

# ---- build ------------------------------------------------------------------
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer "${san[@]}")
warn=(-Wall -Wextra -Werror)

if ! command -v "$cc" >/dev/null; then
  say "error: $cc not found: install clang and libclang-rt-dev (scripts/bootstrap.sh does)"
  exit 2
fi
mkdir -p "$out/obj" "$out/gen" "$out/logs"
probe="$out/obj/probe"
if ! printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
      'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' |
    "$cc" "${cflags[@]}" -x c - -o "$probe" 2>"$out/logs/probe.log"; then
  cat "$out/logs/probe.log"
  say "error: $cc cannot build a libFuzzer binary: install libclang-rt-dev (scripts/bootstrap.sh does)"
  exit 2
fi
rm -f "$probe"

# Flags changed (another compiler, other options): rebuild everything.
stamp="$out/obj/flags"
want_stamp="$("$cc" --version | head -n 1) ${cflags[*]} ${warn[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
  rm -f "$out"/obj/*.o "$out"/obj/*.a
  printf '%s\n' "$want_stamp" >"$stamp"
fi

# An output is stale if it is missing or older than any of its inputs.
stale() {
  local target=$1
  shift
  [ -e "$target" ] || return 0
  local f
  for f in "$@"; do [ "$f" -nt "$target" ] && return 0; done
  return 1
}

headers=(include/grpcr/*.h src/*.h test/fuzz/*.h)
core_objs=()
rebuilt=0
for src in src/*.c; do
  obj="$out/obj/core_$(basename "$src" .c).o"
  core_objs+=("$obj")
  if stale "$obj" "$src" "${headers[@]}"; then
    "$cc" "${cflags[@]}" "${warn[@]}" -Iinclude -Isrc -c "$src" -o "$obj"
    rebuilt=1
  fi
done
core_lib="$out/obj/libgrpcr_core_fuzz.a"
if [ $rebuilt = 1 ] || [ ! -f "$core_lib" ]; then
  rm -f "$core_lib"
  ar rcs "$core_lib" "${core_objs[@]}"
fi

proto=proto/grpcr/v1/stats.proto
pb_c="$out/gen/grpcr/v1/stats.pb-c.c"
pb_o="$out/obj/stats.pb-c.o"
build_proto() {
  if stale "$pb_c" "$proto"; then
    command -v protoc-c >/dev/null || { say "error: protoc-c not found (scripts/bootstrap.sh installs it)"; exit 2; }
    protoc-c --c_out="$out/gen" -I proto "$proto"
  fi
  if stale "$pb_o" "$pb_c"; then
    # Generated code: built with the sanitizers, without -Werror.
    "$cc" "${cflags[@]}" -I"$out/gen" -c "$pb_c" -o "$pb_o"
  fi
}

for t in "${targets[@]}"; do
  src="test/fuzz/${t}_fuzz.c"
  bin="$out/$t"
  extra_in=() extra_flags=() extra_libs=()
  if [ "$t" = stats_request ]; then
    build_proto
    # The service's own encoder (no gRPC in it), not a copy of it.
    enc_o="$out/obj/stats_encode.o"
    if stale "$enc_o" interceptor/stats_encode.c interceptor/stats_encode.h "$pb_c" "${headers[@]}"; then
      "$cc" "${cflags[@]}" "${warn[@]}" -Iinclude -I"$out/gen" \
          -c interceptor/stats_encode.c -o "$enc_o"
    fi
    # grpcr-stats' decoder (no gRPC in it either), to check the round trip.
    dec_o="$out/obj/stats_snapshot.o"
    if stale "$dec_o" tools/stats_snapshot.c tools/stats_cli.h "$pb_c" "${headers[@]}"; then
      "$cc" "${cflags[@]}" "${warn[@]}" -Iinclude -I"$out/gen" -Itools \
          -c tools/stats_snapshot.c -o "$dec_o"
    fi
    extra_in=("$pb_o" "$enc_o" "$dec_o") extra_flags=(-I"$out/gen" -Iinterceptor -Itools)
    extra_libs=(-lprotobuf-c)
  fi
  if stale "$bin" "$src" "$core_lib" "${extra_in[@]}" "${headers[@]}"; then
    "$cc" "${cflags[@]}" "${warn[@]}" -Iinclude -Isrc "${extra_flags[@]}" \
        "$src" "${extra_in[@]}" "$core_lib" "${extra_libs[@]}" -lm -pthread -o "$bin"
  fi
done

# ---- run --------------------------------------------------------------------
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1
common=(-timeout=10 -rss_limit_mb=2048)

# Why a libFuzzer run failed, from its log.
reason() {
  local log=$1
  if grep -q 'ERROR: LeakSanitizer' "$log"; then echo "memory leak"
  elif grep -q 'ERROR: libFuzzer: timeout' "$log"; then echo "timeout"
  elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log"; then echo "out of memory"
  elif grep -q 'runtime error:' "$log"; then echo "undefined behaviour"
  elif grep -q 'ERROR: AddressSanitizer' "$log"; then
    echo "memory error: $(grep -m1 -o 'ERROR: AddressSanitizer: [a-z-]*' "$log" | sed 's/.*: //')"
  elif grep -q 'ERROR: libFuzzer: deadly signal' "$log"; then echo "crash (deadly signal: a failed CHECK traps)"
  else echo "exit status $2"
  fi
}

report_failure() {
  local t=$1 log=$2 rc=$3 what=$4
  local unit
  unit=$(grep -o 'Test unit written to .*' "$log" | tail -n 1 | sed 's/Test unit written to //' || true)
  # Running the corpus files, libFuzzer names each before it runs it.
  [ -n "$unit" ] || unit=$(grep -o '^Running: .*' "$log" | tail -n 1 | sed 's/^Running: //' || true)
  say "$t: FAILED ($what): $(reason "$log" "$rc")${unit:+; input: $unit}; log: $log"
  tail -n 60 "$log" | sed 's/^/    /'
}

failed=()
for t in "${targets[@]}"; do
  bin="$out/$t"
  corpus="test/fuzz/corpus/$t"
  dict=()
  case "$dict_targets" in *" $t "*) dict=(-dict=test/fuzz/config.dict) ;; esac
  artifacts="$out/artifacts/$t"
  rm -rf "$artifacts"
  mkdir -p "$artifacts"

  # 1. The committed corpus as regression inputs: each file runs once.
  seeds=()
  if [ -d "$corpus" ]; then
    while IFS= read -r -d '' f; do seeds+=("$f"); done < <(find "$corpus" -type f -print0 | sort -z)
  fi
  log="$out/logs/$t.regression.log"
  if [ ${#seeds[@]} -gt 0 ]; then
    rc=0
    "$bin" "${common[@]}" -artifact_prefix="$artifacts/" "${seeds[@]}" >"$log" 2>&1 || rc=$?
    if [ $rc != 0 ]; then
      report_failure "$t" "$log" "$rc" "regression input"
      failed+=("$t")
      continue
    fi
  fi

  # 2. Fuzz a copy of the corpus for $secs seconds.
  work="$out/work/$t"
  rm -rf "$work"
  mkdir -p "$work"
  [ ${#seeds[@]} -eq 0 ] || cp "${seeds[@]}" "$work/"
  log="$out/logs/$t.fuzz.log"
  rc=0
  "$bin" "${common[@]}" -max_total_time="$secs" "${dict[@]}" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1 || rc=$?
  if [ $rc != 0 ]; then
    report_failure "$t" "$log" "$rc" "after fuzzing"
    failed+=("$t")
    continue
  fi
  done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
  if [ -z "$done_line" ]; then
    report_failure "$t" "$log" "$rc" "no 'Done' line"
    failed+=("$t")
    continue
  fi
  runs=$(echo "$done_line" | sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/')
  took=$(echo "$done_line" | sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | sed 's/cov: //' || true)
  say "$t: ok: $runs runs in $took s (${#seeds[@]} regression inputs passed; coverage ${cov:-?} edges; corpus now $(find "$work" -type f | wc -l) inputs)"
done

if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]} (inputs in $out/artifacts/; see test/fuzz/README.md)"
  exit 1
fi
say "all ${#targets[@]} targets passed (${secs} s each)"
