#!/usr/bin/env bash
# Runs the README's "Run it as a service" steps, as written, in a scratch root: a private mount
# namespace where /etc, /usr/local/bin and /var/lib/dds-backup-sync are throwaway copies, so
# the user the steps create, the files they install and the unit never touch this host.
# `sudo` runs the command (as the given user for `sudo -u`), `sudoedit` writes a config for a
# bundled emulator, `systemctl daemon-reload` becomes `systemd-analyze verify` of the installed
# unit, the rest of systemctl and journalctl only say what they would do. The check and the
# dry run really run, as the unprivileged service user. Needs root (for the namespace).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--inside" ]; then
  exec unshare --mount --propagation private bash "$0" --inside
fi
scratch=$(mktemp -d)
cp -a /etc "$scratch/etc"
mount --bind "$scratch/etc" /etc
mkdir -p "$scratch/bin" "$scratch/state"
mount --bind "$scratch/bin" /usr/local/bin
# The mount point is left as it was found (only the mounts are private to this namespace).
made_state=0
[ -d /var/lib/dds-backup-sync ] || { mkdir -p /var/lib/dds-backup-sync; made_state=1; }
mount --bind "$scratch/state" /var/lib/dds-backup-sync

# The emulator the config points at (the README's keys are its keys).
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -q -p dds-emulator
"$target/release/dds-emulator" --listen 127.0.0.1:0 --access-key-id 'LTAI...' \
  --access-key-secret '...' >"$scratch/emulator.out" 2>"$scratch/emulator.err" &
emulator=$!
cleanup() {
  kill "$emulator" 2>/dev/null || true
  umount /var/lib/dds-backup-sync /usr/local/bin /etc 2>/dev/null || true
  if [ "$made_state" = 1 ]; then rmdir /var/lib/dds-backup-sync 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
for _ in $(seq 300); do grep -q '^dds-emulator listening' "$scratch/emulator.out" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$scratch/emulator.out" | head -1)
[ -n "$url" ] || { echo "install test: the emulator did not start" >&2; exit 1; }

sudo() {
  if [ "$1" = "-u" ]; then
    local user=$2
    shift 2
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}
sudoedit() {
  cat >"$1" <<CONF
[api]
region_id = "cn-hangzhou"
endpoint = "$url"
use_ecs_ram_role = false
[[instances]]
id = "dds-demo-replica"
lookback = "30d"
[download]
network = "public"
CONF
}
systemctl() {
  case "$*" in
    daemon-reload) systemd-analyze verify /etc/systemd/system/dds-backup-sync.service ;;
    *) echo "install test: would run: systemctl $*" ;;
  esac
}
journalctl() { echo "install test: would run: journalctl $*"; }

steps=$(awk '/^## Run it as a service \(systemd\)/{f=1} f&&/^```sh/{g=1;next} g&&/^```/{exit} g{print}' README.md)
[ -n "$steps" ] || { echo "install test: no service steps found in README.md" >&2; exit 1; }
echo "install test: running the README's service steps in a scratch root"
eval "$steps"
[ "$(stat -c %U /var/lib/dds-backup-sync)" = dds-backup-sync ] || {
  echo "install test: the state dir is not the service user's" >&2
  exit 1
}
echo "install test: the README's service steps work in order"
