#!/usr/bin/env bash
# Benchmark: whole-run time of `dds-backup-sync --sync-now` against curl on loopback, and peak RSS.
#   single file: one 2 GiB object   vs  curl -o
#   many files:  64 objects of 32 MiB (download.concurrency = 4)  vs  four parallel curls
# Needs ~5 GiB free under $BENCH_DIR (default: a temp dir). Prints a table; the figures in the
# README come from this script. Usage: bench/run.sh [ROUNDS]   (default 3; the best run counts)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
WORK=${BENCH_DIR:-$(mktemp -d)}
export CARGO_TERM_COLOR=never
cargo build --release --quiet
BIN=$PWD/target/release
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time (apt-get install time)"; exit 2; }
command -v curl >/dev/null || { echo "bench: needs curl"; exit 2; }

"$BIN/dds-emulator" --listen 127.0.0.1:0 --access-key-id bench-id --access-key-secret bench-secret \
  --url-ttl 86400s --generate dds-bench-one:1x2GiB --generate dds-bench-many:64x32MiB \
  --warm-up --print-urls >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU=$!
trap 'kill $EMU 2>/dev/null; rm -rf "$WORK/data" "$WORK/curl"' EXIT
for _ in $(seq 600); do grep -q '^dds-emulator listening' "$WORK/emulator.out" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/emulator.out" | head -1)
[ -n "$URL" ] || { echo "bench: the emulator did not start"; cat "$WORK/emulator.err"; exit 1; }
# Only the generated objects (ids 90000000+) are benchmarked.
grep '^url 900' "$WORK/emulator.out" | awk '{print $3}' | head -1 >"$WORK/one.urls"
grep '^url 901' "$WORK/emulator.out" | awk '{print $3}' >"$WORK/many.urls"

config() { # $1 instance
  cat >"$WORK/$1.toml" <<TOML
[api]
region_id = "cn-hangzhou"
endpoint = "$URL"
access_key_id = "bench-id"
access_key_secret = "bench-secret"
use_ecs_ram_role = false
[[instances]]
id = "$1"
lookback = "30d"
[download]
dir = "$WORK/data"
network = "public"
concurrency = 4
[prune]
enabled = false
TOML
  chmod 600 "$WORK/$1.toml"
}
config dds-bench-one
config dds-bench-many

# run NAME CMD...: best wall time (s) and the peak RSS (KiB) of that run
run() {
  local name=$1; shift
  local best="" rss=""
  for _ in $(seq "$ROUNDS"); do
    rm -rf "$WORK/data" "$WORK/curl"; mkdir -p "$WORK/curl"; sync
    local start end secs
    start=$(date +%s.%N)
    "$TIME" -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/$name.err" || { echo "bench: $name failed"; tail -5 "$WORK/$name.err"; exit 1; }
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    if [ -z "$best" ] || awk -v s="$secs" -v b="$best" 'BEGIN { exit !(s < b) }'; then best=$secs; rss=$(cat "$WORK/rss"); fi
  done
  awk -v n="$name" -v t="$best" -v b="$BYTES" -v r="$rss" \
    'BEGIN { printf "%-36s %7.2f s %7.0f MiB/s %7.1f MiB peak RSS\n", n, t, b / t / 1048576, r / 1024 }'
}

echo "dds-backup-sync benchmark on $(nproc) cores, $(date -u +%F), best of $ROUNDS"
BYTES=$((2 * 1024 * 1024 * 1024))
run "single 2 GiB: dds-backup-sync" "$BIN/dds-backup-sync" --sync-now --config "$WORK/dds-bench-one.toml"
run "single 2 GiB: curl -o" curl -sf -o "$WORK/curl/one" "$(cat "$WORK/one.urls")"
run "single 2 GiB: curl | tee | sha256sum" sh -c "curl -sf '$(cat "$WORK/one.urls")' | tee '$WORK/curl/one' | sha256sum"
BYTES=$((64 * 32 * 1024 * 1024))
run "64 x 32 MiB: dds-backup-sync (c=4)" "$BIN/dds-backup-sync" --sync-now --config "$WORK/dds-bench-many.toml"
run "64 x 32 MiB: 4 parallel curls" sh -c "cd '$WORK/curl' && nl -w1 -s' ' '$WORK/many.urls' | xargs -P4 -n2 sh -c 'curl -sf -o \"f\$0\" \"\$1\"'"
run "64 x 32 MiB: 4 x curl | tee | sha256sum" sh -c "cd '$WORK/curl' && nl -w1 -s' ' '$WORK/many.urls' | xargs -P4 -n2 sh -c 'curl -sf \"\$1\" | tee \"f\$0\" | sha256sum'"
