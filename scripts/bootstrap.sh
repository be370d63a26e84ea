#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on Debian 12/13
# or Ubuntu 24.04, and fetches the gRPC 1.51.1 source (internal headers only)
# into .cache/. Idempotent: a second run checks and returns in seconds.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
grpc_src="$cache/grpc-src"
want_grpc=1.51.1

pkgs=(build-essential cmake pkg-config dpkg-dev
      libgrpc-dev libgrpc++-dev libabsl-dev libssl-dev zlib1g-dev libre2-dev libc-ares-dev
      libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libmicrohttpd-dev
      libgtest-dev valgrind prometheus python3 python3-prometheus-client locales
      clang libclang-rt-dev gnuplot-nox ruby-grpc python3-grpcio)

say() { printf 'bootstrap: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# The grpc-js server of test/realservers needs node and npm: any node on
# PATH will do, else Debian's.
command -v node >/dev/null || missing+=(nodejs npm)

apt_updated=0
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  as_root apt-get update -qq
  apt_updated=1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

have=$(pkg-config --modversion grpc++ 2>/dev/null || true)  # grpc.pc says 29.0.0 (core ABI); grpc++.pc the release
if [ "$have" != "$want_grpc" ]; then
  say "error: libgrpc is '${have:-absent}', this build needs exactly $want_grpc (Debian 12/13, Ubuntu 24.04)"
  exit 1
fi

if [ ! -f "$grpc_src/src/core/ext/filters/client_channel/retry_filter.cc" ]; then
  # apt-get source needs a deb-src entry; add one matching the deb entries.
  if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding a deb-src entry for the gRPC source"
    . /etc/os-release
    case "$ID" in
      debian) uris=http://deb.debian.org/debian; comps=main ;;
      ubuntu) uris=http://archive.ubuntu.com/ubuntu; comps=universe ;;
      *) say "error: unsupported distribution $ID"; exit 1 ;;
    esac
    as_root tee /etc/apt/sources.list.d/grpcr-src.sources >/dev/null <<SRC
Types: deb-src
URIs: $uris
Suites: $VERSION_CODENAME
Components: $comps
Signed-By: /usr/share/keyrings/${ID}-archive-keyring.gpg
SRC
    apt_updated=0
  fi
  [ $apt_updated -eq 1 ] || as_root apt-get update -qq
  say "fetching the gRPC $want_grpc source into $cache"
  mkdir -p "$cache/dl"
  (cd "$cache/dl" && apt-get source -qq --download-only "grpc=$want_grpc-3" 2>/dev/null \
     || apt-get source -qq --download-only grpc)
  orig=$(ls "$cache/dl"/grpc_"$want_grpc".orig.tar.* | head -n 1)
  rm -rf "$grpc_src.tmp" && mkdir -p "$grpc_src.tmp"
  # Only the headers of src/core and include are needed; skip the rest.
  tar -xf "$orig" -C "$grpc_src.tmp" --strip-components=1 \
      --wildcards '*/src/core/*' '*/include/*' '*/test/core/end2end/tests/retry*'
  rm -rf "$grpc_src" && mv "$grpc_src.tmp" "$grpc_src"
fi
# grpc-js for the real-server tests (test/realservers), exactly as its
# package-lock.json pins it.
realservers="$root/test/realservers"
if [ ! -f "$realservers/node_modules/@grpc/grpc-js/package.json" ]; then
  if ! command -v npm >/dev/null; then
    say "error: node is $(command -v node) but npm is missing"
    exit 1
  fi
  say "installing grpc-js into $realservers/node_modules (npm ci)"
  (cd "$realservers" && npm ci --no-audit --no-fund --ignore-scripts)
fi
# A locale with a ',' decimal separator, for the test that proves the JSON
# parser ignores the process locale (the unit tests set LOCPATH to it).
if [ ! -d "$cache/locale/de_DE.UTF-8" ] && command -v localedef >/dev/null; then
  mkdir -p "$cache/locale"
  localedef -i de_DE -f UTF-8 "$cache/locale/de_DE.UTF-8" 2>/dev/null \
    || say "warning: could not build the de_DE.UTF-8 test locale; that test will skip"
fi
say "ready (gRPC $want_grpc, source headers in $grpc_src)"
