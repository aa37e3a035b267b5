#!/usr/bin/env bash
# Benchmark: whole-run time of `dds-backup-sync --sync-now` against curl on loopback, and peak RSS.
#   single file: one 2 GiB object   vs  curl -o
#   many files:  64 objects of 32 MiB (download.concurrency = 4)  vs  four parallel curls
# `curl -o` leaves its data dirty in the page cache for the kernel to write later; the
# `then sync` rows add the fsync that dds-backup-sync does before it publishes a file.
# Each runs twice: at full loopback speed (CPU bound: on a small host sha256 competes with the
# copies for the same cores), and with the emulator pacing each body to a link rate
# (BENCH_RATE_MIB, default 400, for the single file; a quarter of it for each of the four
# connections of the many-file run), which is what a download from OSS looks like.
# Needs ~5 GiB free under $BENCH_DIR (default: a temp dir). Prints a table; the figures in the
# README come from this script. Usage: bench/run.sh [ROUNDS]   (default 3; the best run counts)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
RATE_MIB=${BENCH_RATE_MIB:-400}
WORK=${BENCH_DIR:-$(mktemp -d)}
export CARGO_TERM_COLOR=never
# The daemon and the dds-emulator binary (a workspace member): both land in target/release.
cargo build --release --quiet --workspace
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time (apt-get install time)"; exit 2; }
command -v curl >/dev/null || { echo "bench: needs curl"; exit 2; }
command -v openssl >/dev/null || { echo "bench: needs openssl (the hashing reference)"; exit 2; }

EMU=""
trap 'kill $EMU 2>/dev/null; rm -rf "$WORK/data" "$WORK/curl"' EXIT

# emulator [FLAGS...]: (re)starts the emulator with the bench objects; sets URL, one.urls, many.urls
emulator() {
  [ -n "$EMU" ] && { kill "$EMU" 2>/dev/null; wait "$EMU" 2>/dev/null || true; }
  rm -f "$WORK/emulator.out"
  "$BIN/dds-emulator" --listen 127.0.0.1:0 --access-key-id bench-id --access-key-secret bench-secret \
    --url-ttl 86400s --generate dds-bench-one:1x2GiB --generate dds-bench-many:64x32MiB \
    --warm-up --print-urls "$@" >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
  EMU=$!
  for _ in $(seq 600); do grep -q '^dds-emulator listening' "$WORK/emulator.out" 2>/dev/null && break; sleep 0.1; done
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/emulator.out" | head -1)
  [ -n "$URL" ] || { echo "bench: the emulator did not start"; cat "$WORK/emulator.err"; exit 1; }
  # Only the generated objects (ids 90000000+) are benchmarked.
  grep '^url 900' "$WORK/emulator.out" | awk '{print $3}' | head -1 >"$WORK/one.urls"
  grep '^url 901' "$WORK/emulator.out" | awk '{print $3}' >"$WORK/many.urls"
  config dds-bench-one
  config dds-bench-many
}

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

# run NAME CMD...: best wall time (s), the CPU (user + sys) and the peak RSS (KiB) of that run
run() {
  local name=$1; shift
  local best="" rss="" cpu=""
  for _ in $(seq "$ROUNDS"); do
    rm -rf "$WORK/data" "$WORK/curl"; mkdir -p "$WORK/curl"; sync
    local start end secs
    start=$(date +%s.%N)
    "$TIME" -f '%M %U %S' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/run.err" || { echo "bench: $name failed"; tail -5 "$WORK/run.err"; exit 1; }
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    if [ -z "$best" ] || awk -v s="$secs" -v b="$best" 'BEGIN { exit !(s < b) }'; then
      best=$secs
      read -r rss user sys <"$WORK/rss"
      cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    fi
  done
  awk -v n="$name" -v t="$best" -v b="$BYTES" -v r="$rss" -v c="$cpu" \
    'BEGIN { printf "%-44s %7.2f s %6.0f MiB/s %6.2f s CPU %6.1f MiB RSS\n", n, t, b / t / 1048576, c, r / 1024 }'
}

single() { # $1: label of the link
  BYTES=$((2 * 1024 * 1024 * 1024))
  run "$1 single 2 GiB: dds-backup-sync" "$BIN/dds-backup-sync" --sync-now --config "$WORK/dds-bench-one.toml"
  run "$1 single 2 GiB: curl -o" curl -sf -o "$WORK/curl/one" "$(cat "$WORK/one.urls")"
  run "$1 single 2 GiB: curl -o, then sync FILE" sh -c "curl -sf -o '$WORK/curl/one' '$(cat "$WORK/one.urls")' && sync '$WORK/curl/one'"
  run "$1 single 2 GiB: curl | tee | openssl sha256" sh -c "curl -sf '$(cat "$WORK/one.urls")' | tee '$WORK/curl/one' | openssl dgst -sha256"
}

many() { # $1: label of the link
  BYTES=$((64 * 32 * 1024 * 1024))
  run "$1 64 x 32 MiB: dds-backup-sync (c=4)" "$BIN/dds-backup-sync" --sync-now --config "$WORK/dds-bench-many.toml"
  run "$1 64 x 32 MiB: 4 parallel curls" sh -c "cd '$WORK/curl' && nl -w1 -s' ' '$WORK/many.urls' | xargs -P4 -n2 sh -c 'curl -sf -o \"f\$0\" \"\$1\"'"
  run "$1 64 x 32 MiB: 4 curls, then sync FILES" sh -c "cd '$WORK/curl' && nl -w1 -s' ' '$WORK/many.urls' | xargs -P4 -n2 sh -c 'curl -sf -o \"f\$0\" \"\$1\"' && sync f*"
  run "$1 64 x 32 MiB: 4 x curl | tee | openssl" sh -c "cd '$WORK/curl' && nl -w1 -s' ' '$WORK/many.urls' | xargs -P4 -n2 sh -c 'curl -sf \"\$1\" | tee \"f\$0\" | openssl dgst -sha256'"
}

echo "dds-backup-sync benchmark on $(nproc) cores, $(date -u +%F), best of $ROUNDS"
echo "(CPU: user + sys of the client alone; the emulator's own CPU is not counted)"
emulator
single "loopback:"
many "loopback:"
emulator --body-rate "${RATE_MIB}MiB"
single "${RATE_MIB} MiB/s link:"
# Four connections share the link: a quarter of the rate each.
emulator --body-rate "$((RATE_MIB / 4))MiB"
many "${RATE_MIB} MiB/s link:"
