#!/usr/bin/env bash
# Install test: installs grpc-resilience from a configured build directory
# into a fresh temporary prefix, builds test/install/consumer.c against that
# prefix only, (a) with CMake (find_package(grpcr), CMAKE_PREFIX_PATH) and
# (b) with `cc $(pkg-config --cflags --libs grpcr)`, runs both, then moves
# the prefix elsewhere and builds and runs again, to prove the installed
# files are relocatable. Binaries are built without RPATH and run with
# LD_LIBRARY_PATH set to the installed lib directory only, and ldd must show
# libgrpcr.so.0 loaded from there: a build-tree RPATH, a stale copy in
# /usr/local or a moved-away path cannot hide a broken install.
#
#   bash test/install/run.sh BUILD_DIR     (e.g. build; relative to the repo)
#
# Set JOBS to build BUILD_DIR in parallel first (default: the generator's).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR (a configured build directory of this project)" >&2
  exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "install-test: no build directory $1" >&2; exit 2; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "install-test: $build is not a configured CMake build directory" >&2
  exit 2
fi
libdir_rel=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
includedir_rel=$(sed -n 's/^CMAKE_INSTALL_INCLUDEDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
case "$libdir_rel$includedir_rel" in
  "" ) echo "install-test: $build has no GNUInstallDirs cache entries (GRPCR_BUILD_SHIM=OFF?)" >&2; exit 2 ;;
esac
case "$libdir_rel" in
  /*) echo "install-test: CMAKE_INSTALL_LIBDIR=$libdir_rel is absolute: the install cannot move" >&2; exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/grpcr-install-test.XXXXXX")
current="setup"
# Any failure (set -e, or fail below) ends here with the step it broke.
cleanup() {
  local rc=$?
  rm -rf "$tmp"
  if [ "$rc" != 0 ]; then echo "install-test: FAIL ($rc): $current" >&2; fi
  exit "$rc"
}
trap cleanup EXIT

step() { current=$*; printf 'install-test: ==> %s\n' "$*"; }
ok() { printf 'install-test:     ok: %s\n' "$*"; }
fail() { printf 'install-test:     FAIL: %s\n' "$*" >&2; false; }
# Runs a command with its output in a log, shown only if it fails.
logged() {
  local log=$tmp/last.log
  if ! "$@" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "command failed: $*"
  fi
}

# $1: the prefix. Checks the installed tree and sets pcdir, libdir.
check_tree() {
  local prefix=$1
  libdir=$prefix/$libdir_rel
  pcdir=$libdir/pkgconfig
  local f
  for f in "$prefix/$includedir_rel/grpcr/grpcr.h" "$pcdir/grpcr.pc" \
           "$libdir/cmake/grpcr/grpcrConfig.cmake" "$libdir/cmake/grpcr/grpcrConfigVersion.cmake" \
           "$libdir/cmake/grpcr/grpcrTargets.cmake" "$libdir/libgrpcr.so" "$libdir/libgrpcr.so.0" \
           "$libdir/libgrpcr_preload.so" "$prefix/bin/grpcr-run"; do
    [ -e "$f" ] || fail "missing ${f#"$prefix"/}"
  done
}

# $1: the prefix the tree is at now. pkg-config must see it there.
check_pkg_config() {
  local prefix=$1 got want
  got=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=pcfiledir grpcr)
  [ "$got" = "$pcdir" ] || fail "pkg-config found grpcr.pc in $got, not $pcdir"
  got=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=prefix grpcr)
  echo "install-test:     pkg-config --variable=prefix grpcr: $got"
  want=$(cd "$prefix" && pwd -P)
  [ -d "$got" ] && [ "$(cd "$got" && pwd -P)" = "$want" ] || fail "prefix $got is not $prefix"
  for v in libdir includedir; do
    got=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=$v grpcr)
    [ -d "$got" ] || fail "pkg-config $v $got is not a directory"
  done
  ok "pkg-config resolves prefix, libdir and includedir to $prefix"
}

# $1: the binary. Runs it against the installed library only.
run_consumer() {
  local bin=$1 lib
  readelf -d "$bin" | grep -qE '\((RPATH|RUNPATH)\)' && fail "$bin carries an RPATH"
  lib=$(LD_LIBRARY_PATH=$libdir ldd "$bin" | awk '$1 == "libgrpcr.so.0" { print $3 }')
  [ "$lib" = "$libdir/libgrpcr.so.0" ] || fail "libgrpcr.so.0 resolves to '$lib', not $libdir/libgrpcr.so.0"
  ok "libgrpcr.so.0 loads from $libdir"
  local rc=0
  LD_LIBRARY_PATH=$libdir "$bin" >"$tmp/run.out" 2>&1 || rc=$?
  sed 's/^/install-test:     | /' "$tmp/run.out"
  [ "$rc" = 0 ] || fail "$(basename "$bin") exited $rc"
  ok "$(basename "$bin") exited 0"
  # Two copies: the consumer registers the installed libgrpcr; the build
  # tree's preload loads the build tree's. The consumer's copy rules, the
  # preload's stays out with one log line, and nothing aborts.
  rc=0
  LD_LIBRARY_PATH=$libdir LD_PRELOAD="$build/libgrpcr_preload.so" \
      GRPCR_CONFIG='{"methodConfig":[{"name":[{}],"resilience":{"maxAttempts":2}}]}' \
      "$bin" >"$tmp/run.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { sed 's/^/install-test:     | /' "$tmp/run.out"; fail "$(basename "$bin") under the build tree's preload exited $rc"; }
  [ "$(grep -c 'grpc-resilience' "$tmp/run.out" | tr -d ' ')" = 1 ] &&
      grep -q 'the program installed grpc-resilience itself' "$tmp/run.out" ||
      { sed 's/^/install-test:     | /' "$tmp/run.out"; fail "the preload's copy did not stay out with one log line"; }
  ok "$(basename "$bin") under the build tree's preload: its own copy rules, one log line"
}

# $1: the prefix. grpcr-run must find the installed preload, and the
# preload the installed libgrpcr.so.0 (from its own directory): an
# unmodified program then logs the process policy it got.
check_preload() {
  local prefix=$1 got want
  want=$(cd "$libdir" && pwd -P)/libgrpcr_preload.so
  got=$("$prefix/bin/grpcr-run" -- sh -c 'echo "$LD_PRELOAD"')
  [ "$got" = "$want" ] || fail "grpcr-run preloads '$got', not $want"
  ok "grpcr-run preloads $want"
  GRPC_TRACE=resilience GRPC_VERBOSITY=info "$prefix/bin/grpcr-run" \
      --config-json '{"methodConfig":[{"name":[{}],"resilience":{"maxAttempts":2}}]}' \
      -- "$build/preload_plain_client" 127.0.0.1:1 1 >"$tmp/preload.out" 2>&1 || true
  grep -q "policy from the process policy" "$tmp/preload.out" ||
    { tail -n 20 "$tmp/preload.out" >&2; fail "the installed preload installed nothing"; }
  ok "an unmodified client under the installed grpcr-run got the process policy"
}

# $1: the prefix, $2: a name for the build.
build_with_cmake() {
  local prefix=$1 dir=$tmp/$2 found
  logged cmake -S "$root/test/install" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCMAKE_SKIP_BUILD_RPATH=ON \
      -DCMAKE_C_FLAGS="-Wall -Wextra -Werror"
  found=$(sed -n 's/^grpcr_DIR:[A-Z]*=//p' "$dir/CMakeCache.txt")
  [ "$found" = "$libdir/cmake/grpcr" ] || fail "find_package(grpcr) used $found, not $libdir/cmake/grpcr"
  ok "find_package(grpcr) found $found"
  logged cmake --build "$dir"
  ok "consumer built with CMake"
  run_consumer "$dir/consumer"
}

# $1: a name for the binary.
build_with_pkg_config() {
  local bin=$tmp/$1 flags
  flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs grpcr)
  printf 'install-test:     pkg-config --cflags --libs grpcr: %.150s ...\n' "$flags"
  logged "${CC:-cc}" -std=c11 -Wall -Wextra -Werror "$root/test/install/consumer.c" $flags -o "$bin"
  ok "consumer built with pkg-config"
  run_consumer "$bin"
}

step "build $build"
logged cmake --build "$build" ${JOBS:+-j"$JOBS"}
ok "built"

prefix=$tmp/prefix
step "install $build into a fresh prefix $prefix"
logged cmake --install "$build" --prefix "$prefix"
check_tree "$prefix"
ok "headers, libgrpcr, CMake package and grpcr.pc installed"

step "installed libgrpcr: SONAME, no RPATH; installed package files hold no absolute path"
real=$(readlink -f "$libdir/libgrpcr.so")
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libgrpcr.so.0" ] || fail "SONAME of $real is '$soname', not libgrpcr.so.0"
[ "$(readlink -f "$libdir/libgrpcr.so.0")" = "$real" ] || fail "libgrpcr.so.0 does not point at $real"
ok "$(basename "$real"): SONAME $soname"
for f in "$real" "$prefix"/bin/*; do
  [ -f "$f" ] || continue
  if readelf -d "$f" | grep -E '\((RPATH|RUNPATH)\)'; then fail "$f carries an RPATH"; fi
done
ok "no RPATH/RUNPATH in the installed library and tools"
for p in "$prefix" "$build" "$root"; do
  if grep -rlF "$p" "$libdir/cmake/grpcr" "$pcdir"; then fail "installed package files name $p"; fi
done
ok "grpcr.pc and the CMake package name neither the prefix, the build nor the source tree"

step "grpcr-run and libgrpcr_preload.so from $prefix"
check_preload "$prefix"
step "(a) CMake consumer (find_package(grpcr), CMAKE_PREFIX_PATH=$prefix)"
build_with_cmake "$prefix" cmake-build
step "(b) pkg-config consumer (PKG_CONFIG_PATH=$pcdir)"
check_pkg_config "$prefix"
build_with_pkg_config consumer-pc

moved=$tmp/elsewhere/deeper/moved-prefix
step "move the prefix to $moved"
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
[ ! -e "$prefix" ] || fail "$prefix still exists"
check_tree "$moved"
ok "moved; $prefix is gone"

step "grpcr-run and libgrpcr_preload.so from the moved prefix"
check_preload "$moved"
step "(b) pkg-config consumer from the moved prefix (PKG_CONFIG_PATH=$pcdir)"
check_pkg_config "$moved"
build_with_pkg_config consumer-pc-moved
step "(a) CMake consumer from the moved prefix (CMAKE_PREFIX_PATH=$moved)"
build_with_cmake "$moved" cmake-build-moved

current="done"
echo "install-test: PASS: installed, built both ways, ran, moved and rebuilt"
