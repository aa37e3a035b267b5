#!/usr/bin/env bash
# Builds the .deb and the .rpm of dds-backup-sync from this checkout: the release binary (no
# bundled emulator inside: --no-default-features), the systemd units with ExecStart at
# /usr/bin, the example config as /etc/dds-backup-sync/config.toml (0640 root:dds-backup-sync,
# never overwritten on upgrade), the system user and the state dir (maintainer scripts).
# Needs cargo-deb and cargo-generate-rpm (`cargo install --locked cargo-deb@3.8.0
# cargo-generate-rpm@0.21.1`); installs nothing by itself. Prints the package paths.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

for tool in cargo-deb cargo-generate-rpm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "packaging: $tool is missing; cargo install --locked cargo-deb@3.8.0 cargo-generate-rpm@0.21.1" >&2
    exit 2
  }
done

cargo build --release --locked --no-default-features -p dds-backup-sync
# The units as packaged: the binary lives in /usr/bin (packages never write /usr/local).
mkdir -p "$target/packaging/units"
for unit in systemd/*; do
  sed 's|/usr/local/bin/dds-backup-sync|/usr/bin/dds-backup-sync|g' "$unit" \
    >"$target/packaging/units/$(basename "$unit")"
done
# cargo-deb and cargo-generate-rpm read assets relative to the crate; point them at this target.
if [ "$target" != "target" ]; then
  rm -rf target/packaging target/release/dds-backup-sync.pkg
  mkdir -p target/release target/packaging
  cp -r "$target/packaging/units" target/packaging/
  cp "$target/release/dds-backup-sync" target/release/dds-backup-sync
fi
deb=$(cargo deb --no-build --no-strip -p dds-backup-sync | tail -n 1)
cargo generate-rpm -p . >/dev/null
rpm=$(ls -t target/generate-rpm/dds-backup-sync-*.rpm | head -n 1)
echo "$deb"
echo "$rpm"
