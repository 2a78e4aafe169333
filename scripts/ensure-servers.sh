#!/usr/bin/env bash
# Make sure the servers the tests start are installed: PostgreSQL (initdb, pg_ctl) and
# redis-server. The tests start throwaway instances themselves (tests/_servers.py); this only
# installs the binaries, with apt-get, when they are missing.
#
#   scripts/ensure-servers.sh            check, and install what is missing (needs root)
#   scripts/ensure-servers.sh --dry-run  check, and print what would be installed
#
# Exit status: 0 when everything is (now) installed; 1 with the reason otherwise.
# ENSURE_SERVERS_PG_LIB overrides /usr/lib/postgresql (to test the detection).
set -euo pipefail

dry_run=0
case "${1:-}" in
  --dry-run|-n) dry_run=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

# PostgreSQL's server tools are in PATH on some systems, in /usr/lib/postgresql/<v>/bin on Debian.
# Pure bash (no ls/sort): the last match of the glob is the highest major version.
find_pg() {
  local tool=$1 found="" candidate
  if command -v "$tool" >/dev/null 2>&1; then command -v "$tool"; return 0; fi
  for candidate in "${ENSURE_SERVERS_PG_LIB:-/usr/lib/postgresql}"/*/bin/"$tool"; do
    [ -x "$candidate" ] && found=$candidate
  done
  [ -n "$found" ] && echo "$found"
}

packages=""
for tool in initdb pg_ctl; do
  if path=$(find_pg "$tool"); then
    echo "ensure-servers: $tool: $path"
  else
    echo "ensure-servers: $tool: not found (PATH, /usr/lib/postgresql/*/bin)"
    [[ " $packages " == *" postgresql "* ]] || packages+=" postgresql"
  fi
done
if path=$(command -v redis-server 2>/dev/null); then
  echo "ensure-servers: redis-server: $path"
else
  echo "ensure-servers: redis-server: not found in PATH"
  packages+=" redis-server"
fi

packages=${packages# }
if [ -z "$packages" ]; then
  echo "ensure-servers: all servers installed"
  exit 0
fi
if [ "$dry_run" -eq 1 ]; then
  echo "ensure-servers: dry run: would run: apt-get update && apt-get install -y $packages"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-servers: FAILED: missing $packages and there is no apt-get here;" \
       "install PostgreSQL (>= 15) and Redis with this system's package manager" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-servers: FAILED: missing $packages; installing needs root:" \
       "sudo $0 (or: sudo apt-get install -y $packages)" >&2
  exit 1
fi
echo "ensure-servers: running: apt-get update"
apt-get update || { echo "ensure-servers: FAILED: apt-get update failed (network? sources?)" >&2; exit 1; }
echo "ensure-servers: running: apt-get install -y $packages"
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y $packages \
  || { echo "ensure-servers: FAILED: apt-get install -y $packages failed" >&2; exit 1; }
# Debian starts a system-wide cluster/redis on install; the tests do not use them.
find_pg initdb >/dev/null && command -v redis-server >/dev/null \
  || { echo "ensure-servers: FAILED: installed $packages but the binaries are still missing" >&2; exit 1; }
echo "ensure-servers: installed $packages"
