#!/usr/bin/env bash
# Package test: builds the Debian package from a configured build directory
# (`cpack -G DEB`, cmake/Packaging.cmake), checks its name, control file and
# contents, installs it with dpkg into a scratch root, and uses the
# installed files from there only: (a) test/install/consumer.c built with
# pkg-config and with CMake (find_package(grpcr)) against ROOT/usr, run with
# LD_LIBRARY_PATH=ROOT/usr/lib/<triplet>; (b) ROOT/usr/bin/grpcr-run, which
# must preload ROOT's libgrpcr_preload.so, which must load ROOT's
# libgrpcr.so.0 into an unmodified gRPC client and retry its calls; (c)
# ROOT/usr/bin/grpcr-stats --help. Then removes the package with dpkg and
# checks that nothing of it is left.
#
# The pin: Depends must hold `<package> (= <version>)` of the Debian package
# that owns the libgrpc.so.29 this machine has (dpkg -S), and no other
# libgrpc relation; the preload in the package must carry that file's GNU
# build id, the one its gate accepts.
#
#   bash test/package/run.sh BUILD_DIR     (e.g. build; relative to the repo)
#
# Set JOBS to build BUILD_DIR in parallel first (default: the generator's).
# The scratch root is made and removed here; the package's dependencies are
# satisfied on the host, not in the scratch root (dpkg --force-depends).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR (a configured build directory of this project)" >&2
  exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "package-test: no build directory $1" >&2; exit 2; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "package-test: $build is not a configured CMake build directory" >&2
  exit 2
fi
if [ ! -f "$build/CPackConfig.cmake" ]; then
  echo "package-test: $build has no CPackConfig.cmake: its configure step says why" \
       "('Debian package: not available: ...'), or GRPCR_BUILD_SHIM=OFF" >&2
  exit 2
fi
for tool in cpack dpkg dpkg-deb dpkg-query pkg-config readelf; do
  command -v "$tool" >/dev/null || { echo "package-test: $tool not found" >&2; exit 2; }
done

version=$(sed -nE 's/^project\(grpc_resilience VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
[ -n "$version" ] && [ -n "$arch" ] && [ -n "$triplet" ] ||
  { echo "package-test: cannot read the version, architecture or multiarch triplet" >&2; exit 2; }
libdir_rel=lib/$triplet

tmp=$(mktemp -d "${TMPDIR:-/tmp}/grpcr-package-test.XXXXXX")
current="setup"
# Any failure (set -e, or fail below) ends here with the step it broke.
cleanup() {
  local rc=$?
  rm -rf "$tmp"
  if [ "$rc" != 0 ]; then echo "package-test: FAIL ($rc): $current" >&2; fi
  exit "$rc"
}
trap cleanup EXIT

step() { current=$*; printf 'package-test: ==> %s\n' "$*"; }
ok() { printf 'package-test:     ok: %s\n' "$*"; }
fail() { printf 'package-test:     FAIL: %s\n' "$*" >&2; false; }
# Runs a command with its output in a log, shown only if it fails.
logged() {
  local log=$tmp/last.log
  if ! "$@" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "command failed: $*"
  fi
}

step "build $build"
logged cmake --build "$build" ${JOBS:+-j"$JOBS"}
ok "built"

step "cpack -G DEB in $build"
out=$tmp/cpack
logged bash -c 'cd "$1" && cpack -G DEB -B "$2"' cpack "$build" "$out"
debs=("$out"/*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "cpack made ${#debs[@]} .deb files: ${debs[*]}"
deb=${debs[0]}
want_name=grpc-resilience_${version}_${arch}.deb
[ "$(basename "$deb")" = "$want_name" ] || fail "package is $(basename "$deb"), not $want_name"
ok "$want_name ($(stat -c %s "$deb") bytes)"

step "control file: name, version, architecture, the exact libgrpc pin"
# The libgrpc.so.29 the built library loads, its owner and version, as
# the package must pin them.
libgrpc=$(ldd "$build/libgrpcr.so.0" | awk '$1 == "libgrpc.so.29" { print $3 }')
[ -n "$libgrpc" ] || fail "ldd finds no libgrpc.so.29 for $build/libgrpcr.so.0"
libgrpc=$(readlink -f "$libgrpc")
owner=$(dpkg -S "$libgrpc" 2>/dev/null | sed -nE 's/^([a-z0-9][a-z0-9+.-]+)(:[a-z0-9-]+)?: \/.*/\1\2/p' | head -n 1)
[ -n "$owner" ] || fail "no Debian package owns $libgrpc"
owner_version=$(dpkg-query -W -f='${Version}' "$owner")
pin="${owner%%:*} (= $owner_version)"
dpkg-deb -I "$deb" >"$tmp/info"
sed 's/^/package-test:     | /' "$tmp/info"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = grpc-resilience ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version), not $version"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture), not $arch"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
depends=$(field Depends)
# Split on commas: one relation per line.
rels=$(printf '%s\n' "$depends" | tr ',' '\n' | sed 's/^ *//; s/ *$//')
grep -qxF "$pin" <<<"$rels" || fail "Depends lacks '$pin': $depends"
n=$(grep -cE "^${owner%%:*}( |$)" <<<"$rels" || true)
[ "$n" = 1 ] || fail "Depends names ${owner%%:*} $n times (only the pin may): $depends"
ok "Depends: $pin (owner of $libgrpc), and no weaker libgrpc relation"
for lib in libprotobuf-c1 libmicrohttpd12 libc6; do
  grep -qE "^$lib( |$)" <<<"$rels" || fail "Depends lacks $lib: $depends"
done
ok "Depends also names libprotobuf-c1, libmicrohttpd12, libc6 (dpkg-shlibdeps)"
dpkg-deb --ctrl-tarfile "$deb" | tar -t >"$tmp/control-files"
if grep -qE '(preinst|postinst|prerm|postrm)$' "$tmp/control-files"; then
  fail "the package has maintainer scripts: $(tr '\n' ' ' <"$tmp/control-files")"
fi
ok "no maintainer scripts (the ldconfig trigger instead: $(dpkg-deb -I "$deb" triggers))"

step "contents: library, preload, headers, tools, CMake package, pkg-config file, drop-in"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' >"$tmp/files"
for f in /usr/$libdir_rel/libgrpcr.so /usr/$libdir_rel/libgrpcr.so.0 "/usr/$libdir_rel/libgrpcr.so.$version" \
         /usr/$libdir_rel/libgrpcr_preload.so \
         /usr/include/grpcr/grpcr.h /usr/include/grpcr/config.h /usr/include/grpcr/stats.h \
         /usr/bin/grpcr-stats /usr/bin/grpcr-run \
         /usr/$libdir_rel/cmake/grpcr/grpcrConfig.cmake /usr/$libdir_rel/cmake/grpcr/grpcrConfigVersion.cmake \
         /usr/$libdir_rel/cmake/grpcr/grpcrTargets.cmake /usr/$libdir_rel/pkgconfig/grpcr.pc \
         /usr/share/grpcr/proto/grpcr/v1/stats.proto \
         /usr/share/doc/grpc-resilience/examples/grpc-resilience.conf; do
  grep -qxF "$f" "$tmp/files" || fail "the package lacks $f"
done
outside=$(grep -vE '^/usr($|/(bin|include|lib|share)(/|$))' "$tmp/files" | grep -v '^\.\?$' || true)
[ -z "$outside" ] || fail "files outside /usr/{bin,include,lib,share}: $outside"
! grep -q '^/usr/local' "$tmp/files" || fail "files under /usr/local"
printf 'package-test:     %s files and links; %s headers\n' \
  "$(dpkg-deb -c "$deb" | grep -vc '^d')" "$(grep -c '^/usr/include/grpcr/.*\.h$' "$tmp/files")"
ok "every expected file is in the package, under /usr with libdir $libdir_rel"

step "install with dpkg into a scratch root"
R=$tmp/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
: >"$R/var/lib/dpkg/status"
logged dpkg --root="$R" --force-depends --force-not-root --log=/dev/null -i "$deb"
status=$(dpkg-query --root="$R" -W -f='${db:Status-Status} ${Version}' grpc-resilience)
[ "$status" = "installed $version" ] || fail "dpkg -s grpc-resilience in the scratch root: '$status'"
ok "dpkg --root=ROOT -s grpc-resilience: installed $version"
R=$(cd "$R" && pwd -P)
libdir=$R/usr/$libdir_rel
pcdir=$libdir/pkgconfig
preload_build_id=$(readelf -n "$libgrpc" | sed -nE 's/.*Build ID: ([0-9a-f]+).*/\1/p')
grep -qaF "$preload_build_id" "$libdir/libgrpcr_preload.so" ||
  fail "the installed preload does not carry the build id $preload_build_id of $libgrpc"
ok "the installed preload's gate is for $libgrpc's build id $preload_build_id, the pinned $pin"
cmp -s "$R/usr/share/doc/grpc-resilience/examples/grpc-resilience.conf" examples/systemd/grpc-resilience.conf ||
  fail "the packaged drop-in differs from examples/systemd/grpc-resilience.conf"
ok "the packaged systemd drop-in is examples/systemd/grpc-resilience.conf"
for f in "$libdir/libgrpcr.so.$version" "$R"/usr/bin/*; do
  if readelf -d "$f" | grep -E '\((RPATH|RUNPATH)\)'; then fail "$f carries an RPATH"; fi
done
ok "no RPATH/RUNPATH in the installed library and tools"

# $1: the binary. Runs it against ROOT's library only.
run_consumer() {
  local bin=$1 lib rc=0
  lib=$(LD_LIBRARY_PATH=$libdir ldd "$bin" | awk '$1 == "libgrpcr.so.0" { print $3 }')
  [ "$lib" = "$libdir/libgrpcr.so.0" ] || fail "libgrpcr.so.0 resolves to '$lib', not $libdir/libgrpcr.so.0"
  ok "libgrpcr.so.0 loads from $libdir"
  LD_LIBRARY_PATH=$libdir "$bin" >"$tmp/run.out" 2>&1 || rc=$?
  sed 's/^/package-test:     | /' "$tmp/run.out"
  [ "$rc" = 0 ] || fail "$(basename "$bin") exited $rc"
  ok "$(basename "$bin") exited 0"
}

step "(a) pkg-config consumer against ROOT/usr (PKG_CONFIG_PATH=$pcdir)"
got=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=prefix grpcr)
echo "package-test:     pkg-config --variable=prefix grpcr: $got"
[ -d "$got" ] && [ "$(cd "$got" && pwd -P)" = "$R/usr" ] || fail "grpcr.pc's prefix $got is not ROOT/usr"
for v in libdir includedir; do
  got=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=$v grpcr)
  [ -d "$got" ] && [[ "$(cd "$got" && pwd -P)" == "$R/usr/"* ]] || fail "grpcr.pc's $v $got is not in ROOT/usr"
done
ok "grpcr.pc resolves prefix, libdir and includedir inside ROOT/usr"
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs grpcr)
printf 'package-test:     pkg-config --cflags --libs grpcr: %.150s ...\n' "$flags"
logged "${CC:-cc}" -std=c11 -Wall -Wextra -Werror test/install/consumer.c $flags -o "$tmp/consumer-pc"
ok "consumer built with pkg-config"
run_consumer "$tmp/consumer-pc"

step "(a) CMake consumer against ROOT/usr (find_package(grpcr), CMAKE_PREFIX_PATH=$R/usr)"
logged cmake -S test/install -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$R/usr" \
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCMAKE_SKIP_BUILD_RPATH=ON \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror"
found=$(sed -n 's/^grpcr_DIR:[A-Z]*=//p' "$tmp/cmake-build/CMakeCache.txt")
[ "$found" = "$libdir/cmake/grpcr" ] || fail "find_package(grpcr) used $found, not $libdir/cmake/grpcr"
ok "find_package(grpcr) found $found"
logged cmake --build "$tmp/cmake-build"
ok "consumer built with CMake"
run_consumer "$tmp/cmake-build/consumer"

step "(b) ROOT/usr/bin/grpcr-run: the installed preload, the installed libgrpcr, retries"
got=$("$R/usr/bin/grpcr-run" -- /bin/sh -c 'echo "$LD_PRELOAD"')
[ "$got" = "$libdir/libgrpcr_preload.so" ] || fail "grpcr-run preloads '$got', not $libdir/libgrpcr_preload.so"
ok "grpcr-run execs the program with LD_PRELOAD=$got"
# An unmodified C-core client (no grpc-resilience header or library) on a
# closed port: every attempt fails UNAVAILABLE, so the policy's 3 attempts
# are made. LD_DEBUG=files names the libgrpcr.so.0 the preload loaded.
logged "${CC:-cc}" -std=c11 -Wall -Wextra -Werror test/preload/plain_client.c \
    $(pkg-config --cflags --libs grpc) -ldl -o "$tmp/plain_client"
policy='{"methodConfig":[{"name":[{"service":"echo.Echo"}],"resilience":{"maxAttempts":3,"initialBackoff":"0.01s","maxBackoff":"0.1s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}'
rc=0
LD_DEBUG=files GRPC_TRACE=resilience GRPC_VERBOSITY=info "$R/usr/bin/grpcr-run" --config-json "$policy" \
    -- "$tmp/plain_client" 127.0.0.1:1 1 >"$tmp/plain.out" 2>"$tmp/plain.err" || rc=$?
show() { { cat "$tmp/plain.out"; grep -v '^ *[0-9]*:' "$tmp/plain.err"; } | tail -n 30 >&2; }
[ "$rc" = 0 ] || { show; fail "plain_client under grpcr-run exited $rc"; }
grep -q '^ok 0 of 1' "$tmp/plain.out" || { show; fail "plain_client did not report its one failed call"; }
loaded=$(sed -nE 's/.*calling init: (.*\/libgrpcr\.so\.0)$/\1/p' "$tmp/plain.err" | head -n 1)
[ -n "$loaded" ] || { show; fail "no libgrpcr.so.0 was loaded into plain_client"; }
[ "$(readlink -f "$loaded")" = "$(readlink -f "$libdir/libgrpcr.so.0")" ] ||
  fail "the preload loaded $loaded, not ROOT's $libdir/libgrpcr.so.0"
ok "the preload loaded $loaded"
grep -q "policy from the process policy" "$tmp/plain.err" || { show; fail "the call got no process policy"; }
for a in 2 3; do
  grep -q "starting attempt $a\$" "$tmp/plain.err" || { show; fail "no attempt $a"; }
done
! grep -q "starting attempt 4" "$tmp/plain.err" || { show; fail "more than 3 attempts"; }
ok "an unmodified client under the installed grpcr-run made 3 attempts (GRPC_TRACE=resilience)"

step "(c) ROOT/usr/bin/grpcr-stats --help"
"$R/usr/bin/grpcr-stats" --help >"$tmp/stats.out" 2>&1 || { cat "$tmp/stats.out" >&2; fail "grpcr-stats --help failed"; }
grep -q '^usage: grpcr-stats' "$tmp/stats.out" || fail "grpcr-stats --help printed no usage"
ok "grpcr-stats --help: $(head -n 1 "$tmp/stats.out")"

step "remove with dpkg"
logged dpkg --root="$R" --force-depends --force-not-root --log=/dev/null --purge grpc-resilience
status=$(dpkg-query --root="$R" -W -f='${db:Status-Status}' grpc-resilience 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || fail "after --purge: '$status'"
left=$(find "$R" -path "$R/var" -prune -o \( -type f -o -type l \) -print)
[ -z "$left" ] || fail "left behind: $left"
ok "purged: no file of the package is left in ROOT"

current="done"
echo "package-test: PASS: $want_name built, checked, installed with dpkg, used from ROOT, removed"
