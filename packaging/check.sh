#!/usr/bin/env bash
# Checks the packages packaging/build.sh made, so packaging cannot rot: the .deb is unpacked
# into a scratch root (no maintainer script runs, nothing touches this host) and its files,
# modes, conffiles, scripts and units are checked; the .rpm's file list is checked when rpm is
# installed. Usage: packaging/check.sh DEB [RPM]
set -euo pipefail
deb="$1"
rpm="${2:-}"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "packaging check: $*" >&2; exit 1; }

dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"
"$root/usr/bin/dds-backup-sync" --version >/dev/null || fail "the packaged binary does not run"
"$root/usr/bin/dds-backup-sync" --demo "$root/demo" 2>/dev/null \
  && fail "the packaged binary has the bundled emulator inside"
for f in usr/bin/dds-backup-sync lib/systemd/system/dds-backup-sync.service \
  lib/systemd/system/dds-backup-sync@.service \
  lib/systemd/system/dds-backup-sync-oneshot.service lib/systemd/system/dds-backup-sync-oneshot.timer \
  etc/dds-backup-sync/config.toml usr/share/doc/dds-backup-sync/README.md; do
  [ -f "$root/$f" ] || fail "$f is missing from the .deb"
done
grep -qx /etc/dds-backup-sync/config.toml "$root/DEBIAN/conffiles" \
  || fail "config.toml is not a conffile (an upgrade would overwrite it)"
[ "$(stat -c %a "$root/etc/dds-backup-sync/config.toml")" = 640 ] || fail "config.toml is not 0640"
grep -q 'ExecStart=/usr/bin/dds-backup-sync ' "$root/lib/systemd/system/dds-backup-sync.service" \
  || fail "the packaged unit does not start /usr/bin/dds-backup-sync"
grep -q 'adduser --system' "$root/DEBIAN/postinst" || fail "postinst does not create the user"
if command -v systemd-analyze >/dev/null 2>&1; then
  sed "s|/usr/bin/dds-backup-sync|$root/usr/bin/dds-backup-sync|" \
    "$root/lib/systemd/system/dds-backup-sync.service" >"$root/dds-backup-sync.service"
  systemd-analyze verify "$root/dds-backup-sync.service" 2>&1 | grep -v 'dds-backup-sync.service:' \
    | grep -iE 'error|invalid' && fail "systemd-analyze verify complains about the packaged unit"
fi
if [ -n "$rpm" ]; then
  [ -s "$rpm" ] || fail "the .rpm is missing or empty"
  if command -v rpm >/dev/null 2>&1; then
    rpm -qpl "$rpm" | grep -qx /usr/bin/dds-backup-sync || fail "the .rpm has no /usr/bin/dds-backup-sync"
    rpm -qpc "$rpm" | grep -qx /etc/dds-backup-sync/config.toml || fail "config.toml is not %config in the .rpm"
  fi
fi
echo "packaging check: $(basename "$deb")${rpm:+ and $(basename "$rpm")} look right"
