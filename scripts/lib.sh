# scripts/lib.sh — what the scripts/*-local commands share. Sourced, never run:
#   SCRIPT_NAME=kafka-local; . "$SCRIPT_DIR/lib.sh"
# Sets REPO_ROOT; gives log/die, is_root, apt_install, ensure_gitignore_cache, read_pid,
# pid_alive, pid_runs (a pid file's process is still the one we started) and usage (the
# header comment).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
is_root() { [ "$(id -u)" = "0" ]; }

# apt_install [--no-start] PACKAGE...: install with apt-get (root only). --no-start keeps a
# package's init script from starting a system-wide daemon (we run our own, on our own ports).
# Calls made side by side (compose-local builds its stand-ins' bases in parallel) take turns on
# one lock, and one that finds the packages installed by another does nothing: two apt-gets at
# once fail on apt's own lock. DPkg::Lock::Timeout waits for an apt run by someone else.
apt_install() {
  local no_start=""
  if [ "${1:-}" = "--no-start" ]; then no_start=1; shift; fi
  is_root || die "need '$*' installed (run as root to let this script apt-get install it)"
  command -v apt-get >/dev/null || die "need '$*' installed (no apt-get here)"
  with_apt_lock apt_install_locked "$no_start" "$@"
}

# with_apt_lock COMMAND...: run COMMAND (a function too) holding this project's apt lock.
with_apt_lock() {
  (
    flock -w 900 9 || die "waited 15 minutes for another apt-get of this project"
    "$@"
  ) 9>/var/lock/shop-apt.lock
}

apt_install_locked() {
  local no_start="$1"
  shift
  packages_installed "$@" && return 0
  log "installing $* via apt-get"
  local policy=/usr/sbin/policy-rc.d added_policy="" rc=0 wait=(-o DPkg::Lock::Timeout=600)
  if [ -n "$no_start" ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    added_policy=1
  fi
  { DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq "$@" >/dev/null; } || rc=$?
  [ -n "$added_policy" ] && rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get install $* failed"
}

# packages_installed PACKAGE...: every one of them is installed (dpkg's own record).
packages_installed() {
  local package
  for package in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] || return 1
  done
}

# The run directories live under .cache/: make sure git ignores it.
ensure_gitignore_cache() {
  local gi="$REPO_ROOT/.gitignore"
  if [ -f "$gi" ] && grep -qxE '/?\.cache/?' "$gi"; then
    return 0
  fi
  # make sure an existing file ends with a newline before appending
  if [ -s "$gi" ] && [ -n "$(tail -c1 "$gi")" ]; then
    printf '\n' >>"$gi"
  fi
  printf '.cache/\n' >>"$gi"
}

# read_pid FILE: the pid in FILE, or nothing.
read_pid() {
  if [ -f "$1" ]; then
    tr -dc '0-9' <"$1"
  fi
}

# pid_runs PID TEXT: PID is alive and its command line contains TEXT (not a recycled pid).
pid_runs() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# pid_alive PID: the process exists and has not exited. Unlike `kill -0`, false for a zombie
# (exited, not yet waited for): under a subreaper that waits only at the end (the test suite's),
# a stopped daemon stays a zombie, and waiting for `kill -0` to fail would wait forever.
pid_alive() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)"
  [ "$state" != Z ]
}

# usage: the script's header comment (from line 2 to the first line that is not a comment) as help
# text. Found, not counted: a line number kept by hand drifted as headers grew, and --help printed code.
usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}
