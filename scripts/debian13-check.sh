#!/usr/bin/env bash
# Debian 13 check: builds and runs the quick test suite
# (GRPCR_TEST_QUICK=1 scripts/test.sh: bootstrap, build, unit + integration
# tests, install test) in a fresh Debian 13 (trixie) root made with
# debootstrap, so "works on Debian 13" is something anyone can re-check.
#
#   sudo scripts/debian13-check.sh [ROOT_DIR]     (default /var/tmp/grpcr-debian13)
#
# Needs root and debootstrap (apt-get install debootstrap) on a Debian-like
# host. Steps:
#   1. debootstrap --variant=minbase trixie (plus ca-certificates) into
#      ROOT_DIR, with apt's sources in Debian 13's deb822 form
#      (/etc/apt/sources.list.d/debian.sources) and a policy-rc.d so packages
#      start no services. The mirror is the one the host's apt sources use
#      (override: DEBIAN_MIRROR=URL, DEBIAN_SECURITY_MIRROR=URL or "none").
#      A root that a previous run completed is reused as it is.
#   2. Copies the working tree (git ls-files: tracked files as they are now,
#      plus untracked files git does not ignore; never build*/ or .cache/)
#      to /work/grpc-resilience in the root, replacing an earlier copy but
#      keeping that copy's .cache/ (the gRPC source fetched in the root) and
#      build/ (so a second run rebuilds only what changed; set
#      GRPCR_CHECK_CLEAN_BUILD=1 to start build/ afresh).
#   3. Mounts /proc, /sys, /dev, /dev/pts and a /dev/shm in the root, runs
#      `GRPCR_TEST_QUICK=1 bash scripts/test.sh` there as root, and unmounts
#      (and stops anything the run left behind) on exit, whatever happens.
#   4. Prints the time of each phase, the tally line and the elapsed time,
#      and exits with the test command's exit code. The whole log is kept in
#      ROOT_DIR/root/debian13-check.log.
#
# GRPCR_CHECK_JOBS=N makes test.sh build and run ctest with N jobs (it uses
# nproc, which honours OMP_NUM_THREADS); default: every CPU.
# The network inside the root is the host's (a chroot shares the network
# namespace): the tests' servers listen on 127.0.0.1.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
rootfs=${1:-/var/tmp/grpcr-debian13}
suite=trixie
marker=.grpcr-debian13-complete
dest_rel=work/grpc-resilience

say() { printf 'debian13-check: %s\n' "$*"; }
die() { say "error: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v git >/dev/null || die "git is missing (the tree is copied with git ls-files)"
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || die "$src is not a git working tree"
rootfs=$(realpath -m "$rootfs")   # absolute, as /proc/PID/root shows it
[ "$rootfs" != / ] || die "refusing to use / as the root"

# The host's Debian mirror: the first deb URI (one-line or deb822) that is
# not a security archive; the security archive likewise.
host_uris() {
  { grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      | sed -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/'
    grep -hsiE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources \
      | sed -E 's/^[[:space:]]*URIs:[[:space:]]*//I' | tr ' ' '\n'
  } | sed -E 's:/+$::' | grep -E '^https?://' || true
}
mirror=${DEBIAN_MIRROR:-$(host_uris | grep -E '/debian$' | head -n 1)}
security=${DEBIAN_SECURITY_MIRROR:-$(host_uris | grep -E '/debian-security$' | head -n 1)}
[ -n "$mirror" ] || die "no Debian mirror in the host's apt sources; set DEBIAN_MIRROR=URL"
[ "$security" = none ] && security=

mounted=()
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local rc=$? pid r i killed=0
  trap - EXIT INT TERM
  # Anything still running inside the root (a test server a killed run
  # left behind) would keep its mounts busy: stop those processes, by id.
  if [ -d "$rootfs/proc" ]; then
    for pid in /proc/[0-9]*; do
      pid=${pid#/proc/}
      r=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
      if [ "$r" = "$rootfs" ]; then kill -TERM "$pid" 2>/dev/null && killed=1; fi
    done
    [ "$killed" = 0 ] || sleep 1
  fi
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null \
      || say "warning: could not unmount ${mounted[i]}"
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mounts_under() { findmnt -rn -o TARGET | grep -E "^$(printf '%s' "$rootfs" | sed 's/[.[\*^$]/\\&/g')(/|$)" || true; }

t_start=$SECONDS

# ---- 1. the root --------------------------------------------------------
t0=$SECONDS
if [ -f "$rootfs/$marker" ]; then
  say "reusing the Debian 13 root in $rootfs (delete it for a fresh one)"
  t_debootstrap="reused"
else
  [ -z "$(mounts_under)" ] || die "something is mounted under $rootfs; unmount it first"
  if [ -e "$rootfs" ] && [ -n "$(ls -A "$rootfs" 2>/dev/null)" ]; then
    # An incomplete earlier attempt: start it again, but never wipe a
    # directory that is not a debootstrap root.
    [ -d "$rootfs/debootstrap" ] || [ -f "$rootfs/etc/debian_version" ] \
      || die "$rootfs exists, is not empty and is not a debootstrap root"
    say "removing the incomplete root in $rootfs"
    rm -rf --one-file-system "$rootfs"
  fi
  mkdir -p "$rootfs"
  say "debootstrap --variant=minbase $suite $rootfs $mirror"
  nice -n 19 debootstrap --variant=minbase --include=ca-certificates \
    "$suite" "$rootfs" "$mirror"
  # Debian 13 keeps apt's sources in deb822 form; make the root look like
  # an installed system, not like debootstrap's one-line sources.list.
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$suite" "$suite"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$suite"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  # No daemons from package scripts (prometheus would start its server).
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
  touch "$rootfs/$marker"
  t_debootstrap="$((SECONDS - t0)) s"
  say "debootstrap done in $t_debootstrap"
fi
grep -q '^13' "$rootfs/etc/debian_version" 2>/dev/null \
  || say "warning: $rootfs/etc/debian_version says $(cat "$rootfs/etc/debian_version" 2>/dev/null)"

# ---- 2. the tree ----------------------------------------------------------
t_copy=$SECONDS
dest=$rootfs/$dest_rel
say "copying the working tree of $src to /$dest_rel"
mkdir -p "$dest"
keep=(! -name .cache ! -name build)
[ "${GRPCR_CHECK_CLEAN_BUILD:-0}" = 1 ] && keep=(! -name .cache)
find "$dest" -mindepth 1 -maxdepth 1 "${keep[@]}" -exec rm -rf --one-file-system {} +
n=0
list=$(mktemp)
while IFS= read -r -d '' f; do
  case "$f" in build*/* | .cache/*) continue ;; esac
  if [ -e "$src/$f" ] || [ -L "$src/$f" ]; then   # skip files deleted in the tree
    printf '%s\0' "$f" >>"$list"
    n=$((n + 1))
  fi
done < <(git -C "$src" ls-files -z --cached --others --exclude-standard)
tar -C "$src" --null -T "$list" -cf - | tar -C "$dest" -xf -
rm -f "$list"
say "copied $n files"

# ---- 3. mounts and the run -----------------------------------------------
mnt() {  # mnt TARGET ARGS...
  local target=$rootfs/$1; shift
  mkdir -p "$target"
  mount "$@" "$target"
  mounted+=("$target")
}
mnt proc -t proc proc
mnt sys --bind /sys
mnt dev --bind /dev
mnt dev/pts --bind /dev/pts
mnt dev/shm -t tmpfs -o mode=1777,nosuid,nodev tmpfs

log=$rootfs/root/debian13-check.log
envs=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
      LANG=C.UTF-8 TERM="${TERM:-dumb}" GRPCR_TEST_QUICK=1)
[ -n "${GRPCR_CHECK_JOBS:-}" ] && envs+=(OMP_NUM_THREADS="$GRPCR_CHECK_JOBS")
say "running in the root: GRPCR_TEST_QUICK=1 bash scripts/test.sh (log: $log)"

# test.sh marks its steps with "==== NAME"; note when each one starts.
t_run=$SECONDS
set +e
nice -n 19 chroot "$rootfs" /usr/bin/env -i "${envs[@]}" \
  /bin/bash -c "cd /$dest_rel && exec bash scripts/test.sh" </dev/null 2>&1 \
  | while IFS= read -r line; do
      printf '%s\n' "$line"
      case "$line" in "==== "*) printf '@@phase %s %s\n' "$SECONDS" "${line#==== }" >&3 ;; esac
    done 3>"$log.phases" | tee "$log"
rc=${PIPESTATUS[0]}
set -e
t_end=$SECONDS

# ---- 4. the summary -------------------------------------------------------
names=() starts=()
while read -r _ at name; do names+=("$name"); starts+=("$at"); done <"$log.phases"
rm -f "$log.phases"
echo
say "phases:"
printf '  %-52s %s\n' "debootstrap (minbase trixie + ca-certificates)" "$t_debootstrap"
printf '  %-52s %s s\n' "copy the tree, mount" "$((t_run - t_copy))"
for i in "${!names[@]}"; do
  nxt=$t_end
  [ $((i + 1)) -lt ${#names[@]} ] && nxt=${starts[i + 1]}
  label=${names[i]}
  [ "$label" = bootstrap ] && label="bootstrap (apt packages, gRPC source)"
  printf '  %-52s %s s\n' "$label" "$((nxt - starts[i]))"
done
tally=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -n 1 || true)
say "${tally:-no tally line: test.sh stopped before its tests (see $log)}"
say "exit code $rc, elapsed $((t_end - t_start)) s ($(( (t_end - t_start) / 60 )) min $(( (t_end - t_start) % 60 )) s)"
exit "$rc"
