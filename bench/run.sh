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
# Then ranged streams: one 2 GiB object with every response body capped at one OSS connection's
# rate (`--conn-rate`, BENCH_CONN_RATE bytes/s, default 50331648 = 48 MiB/s), fetched by the
# daemon with download.streams = 1, 4 and 8 (stream_cutoff 256MiB, part_size 64MiB), by
# `aria2c -x8 -s8` if it is installed, and with streams = 4 under bandwidth_limit = "150MiB"
# (the achieved rate against the limit). A daemon that refuses `download.streams` (exit 2, the
# key named on stderr) has those rows skipped, not failed.
# Then the archive (BENCH_ONLY=archive, not in the default set: it needs `garage` on PATH): one
# BENCH_ARCHIVE_MIB object (default 1024) already downloaded, uploaded by a pass to a Garage node
# on loopback (part_size 16MiB, uploads 4), against `aws s3 cp` of the same file with the same
# part size and concurrency, if the AWS CLI is installed. The RSS column shows the upload's
# memory: bounded by uploads x part_size, whatever the file size.
# Then fleet scale (BENCH_ONLY=copies, not in the default set): BENCH_COPIES (default 10000)
# backups of BENCH_COPY_KIB KiB (default 3) on the emulator: the first pass, an idle pass (every
# copy up to date) and `--verify`, each with the program's own CPU and peak RSS. Targets (issue
# #21): an idle pass over 10,000 copies under 1 s of the program's CPU and 64 MiB.
# Needs ~5 GiB free under $BENCH_DIR (default: a temp dir). Prints a table; the figures in the
# docs/performance.md come from this script. Usage: bench/run.sh [ROUNDS]   (default 3; the best run counts)
# Knobs: BENCH_ONLY="loopback link streams" (the sections to run, default all), BENCH_BIG_MIB
# (size of the streams object, default 2048), BENCH_BIN=DIR (use the binaries already in DIR,
# e.g. target/debug, instead of a release build), BENCH_QUICK=1 (a check of the script itself:
# ROUNDS 1, only the streams section, a 512 MiB object; figures not for the README).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=${BENCH_QUICK:-}
ROUNDS=${1:-${QUICK:+1}}
ROUNDS=${ROUNDS:-3}
RATE_MIB=${BENCH_RATE_MIB:-400}
CONN_RATE=${BENCH_CONN_RATE:-50331648}
BIG_MIB=${BENCH_BIG_MIB:-${QUICK:+512}}
BIG_MIB=${BIG_MIB:-2048}
ONLY=${BENCH_ONLY:-${QUICK:+streams}}
ONLY=${ONLY:-loopback link streams}
WORK=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$WORK"
export CARGO_TERM_COLOR=never
RELEASE=${CARGO_TARGET_DIR:-$PWD/target}/release
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$(cd "$BENCH_BIN" && pwd)
else
  # The daemon and the dds-emulator binary (a workspace member): both land in target/release.
  cargo build --release --quiet --workspace
  BIN=$RELEASE
fi
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time (apt-get install time)"; exit 2; }
command -v curl >/dev/null || { echo "bench: needs curl"; exit 2; }
command -v openssl >/dev/null || { echo "bench: needs openssl (the hashing reference)"; exit 2; }

EMU=""
GARAGE=""
trap 'kill $EMU $GARAGE 2>/dev/null; rm -rf "$WORK/data" "$WORK/curl" "$WORK/adata" "$WORK/garage"' EXIT

# start_emulator "ID:COUNTxSIZE..." [FLAGS...]: (re)starts the emulator with those generated
# instances (the first one's backups get ids 900xxxxx, the second's 901xxxxx); sets URL
start_emulator() {
  local gen=() spec
  for spec in $1; do gen+=(--generate "$spec"); done
  shift
  [ -n "$EMU" ] && { kill "$EMU" 2>/dev/null; wait "$EMU" 2>/dev/null || true; }
  rm -f "$WORK/emulator.out"
  "$BIN/dds-emulator" --listen 127.0.0.1:0 --access-key-id bench-id --access-key-secret bench-secret \
    --url-ttl 86400s "${gen[@]}" \
    --warm-up --print-urls "$@" >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
  EMU=$!
  for _ in $(seq 600); do grep -q '^dds-emulator listening' "$WORK/emulator.out" 2>/dev/null && break; sleep 0.1; done
  URL=$(grep -o -m1 'http://127.0.0.1:[0-9]*' "$WORK/emulator.out" | head -1)
  [ -n "$URL" ] || { echo "bench: the emulator did not start"; cat "$WORK/emulator.err"; exit 1; }
}

# emulator [FLAGS...]: (re)starts the emulator with the bench objects; sets URL, one.urls, many.urls
emulator() {
  start_emulator "dds-bench-one:1x2GiB dds-bench-many:64x32MiB" "$@"
  # Only the generated objects (ids 90000000+) are benchmarked.
  grep '^url 900' "$WORK/emulator.out" | awk '{print $3}' | head -1 >"$WORK/one.urls"
  grep '^url 901' "$WORK/emulator.out" | awk '{print $3}' >"$WORK/many.urls"
  config dds-bench-one
  config dds-bench-many
}

# big_emulator [FLAGS...]: (re)starts the emulator with the streams object alone; sets URL, big.urls
big_emulator() {
  start_emulator "dds-bench-big:1x${BIG_MIB}MiB" "$@"
  grep '^url 900' "$WORK/emulator.out" | awk '{print $3}' | head -1 >"$WORK/big.urls"
}

config() { # $1 instance, $2 file name (default: $1), $3 more [download] lines
  cat >"$WORK/${2:-$1}.toml" <<TOML
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
${3:-}
[prune]
enabled = false
TOML
  chmod 600 "$WORK/${2:-$1}.toml"
}

# run NAME CMD...: best wall time (s), the CPU (user + sys) and the peak RSS (KiB) of that run;
# sets BEST (s). With STREAMS_GUARD set, a daemon that refuses download.streams (exit 2, "streams"
# on stderr) is not a failure: the row says skipped, STREAMS_OK=no and BEST stays empty.
run() {
  local name=$1; shift
  local best="" rss="" cpu=""
  BEST=""
  for _ in $(seq "$ROUNDS"); do
    # KEEP_DATA: the run works on what the previous one left (an idle pass, a scrub).
    [ -n "${KEEP_DATA:-}" ] || rm -rf "$WORK/data"
    rm -rf "$WORK/curl"; mkdir -p "$WORK/curl"; sync
    local start end secs rc=0
    start=$(date +%s.%N)
    "$TIME" -f '%M %U %S' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/run.err" || rc=$?
    if [ "$rc" != 0 ]; then
      if [ -n "${STREAMS_GUARD:-}" ] && [ "$rc" = 2 ] && grep -q streams "$WORK/run.err"; then
        STREAMS_OK=no
        printf '%-44s skipped: this dds-backup-sync refuses download.streams (exit 2):\n  %s\n' \
          "$name" "$(grep -m1 streams "$WORK/run.err" | cut -c1-300)"
        return 0
      fi
      echo "bench: $name failed (exit $rc)"; tail -5 "$WORK/run.err"; exit 1
    fi
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    if [ -z "$best" ] || awk -v s="$secs" -v b="$best" 'BEGIN { exit !(s < b) }'; then
      best=$secs
      read -r rss user sys <"$WORK/rss"
      cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    fi
  done
  BEST=$best
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

# daemon_streams NAME CONFIG: a daemon row guarded against a daemon without download.streams
daemon_streams() {
  if [ "$STREAMS_OK" = yes ]; then
    STREAMS_GUARD=1 run "$1" "$BIN/dds-backup-sync" --sync-now --config "$2"
  else
    BEST=""
    printf '%-44s skipped (download.streams refused above)\n' "$1"
  fi
}

streams() { # one BIG_MIB object, every response body capped at CONN_RATE
  BYTES=$((BIG_MIB * 1024 * 1024))
  local size label url n limit=150
  size=$(awk -v m="$BIG_MIB" 'BEGIN { if (m % 1024 == 0) printf "%d GiB", m / 1024; else printf "%d MiB", m }')
  label="$(awk -v r="$CONN_RATE" 'BEGIN { printf "%g", r / 1048576 }') MiB/s per conn: $size"
  big_emulator --conn-rate "$CONN_RATE"
  url=$(cat "$WORK/big.urls")
  local parts='stream_cutoff = "256MiB"
part_size = "64MiB"'
  for n in 1 4 8; do
    config dds-bench-big "big-s$n" "streams = $n
$parts"
  done
  config dds-bench-big big-limit "streams = 4
$parts
bandwidth_limit = \"${limit}MiB\""
  STREAMS_OK=yes
  for n in 1 4 8; do
    daemon_streams "$label: dds-backup-sync streams=$n" "$WORK/big-s$n.toml"
  done
  if command -v aria2c >/dev/null; then
    run "$label: aria2c -x8 -s8" aria2c -x8 -s8 -q --allow-overwrite=true --auto-file-renaming=false \
      --file-allocation=none -d "$WORK/curl" -o big "$url"
  else
    echo "aria2c: not installed (apt-get install aria2)"
  fi
  daemon_streams "$label: dds-backup-sync streams=4, bandwidth_limit ${limit}MiB" "$WORK/big-limit.toml"
  if [ -n "$BEST" ]; then
    awk -v t="$BEST" -v b="$BYTES" -v l="$limit" 'BEGIN { r = b / t / 1048576
      printf "  bandwidth_limit %d MiB/s: achieved %.1f MiB/s (%.1f %% of the limit)\n", l, r, 100 * r / l }'
  fi
}

# start_garage: one Garage node on free ports in $WORK/garage, bucket "bench", a key; sets
# S3_URL, S3_KEY, S3_SECRET. Stopped by its PID at exit.
start_garage() {
  local g=$WORK/garage ports id key
  rm -rf "$g"; mkdir -p "$g"
  ports=$(python3 -c 'import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
  set -- $ports
  cat >"$g/garage.toml" <<TOML
metadata_dir = "$g/meta"
data_dir = "$g/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$1"
rpc_public_addr = "127.0.0.1:$1"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$2"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$3"
TOML
  S3_URL="http://127.0.0.1:$2"
  RUST_LOG=warn garage -c "$g/garage.toml" server >"$g/server.log" 2>&1 &
  GARAGE=$!
  for _ in $(seq 300); do garage -c "$g/garage.toml" status >/dev/null 2>&1 && break; sleep 0.1; done
  id=$(garage -c "$g/garage.toml" node id -q | cut -d@ -f1)
  garage -c "$g/garage.toml" layout assign -z dc1 -c 10G "$id" >/dev/null
  garage -c "$g/garage.toml" layout apply --version 1 >/dev/null
  garage -c "$g/garage.toml" bucket create bench >/dev/null
  key=$(garage -c "$g/garage.toml" key create bench-key)
  S3_KEY=$(echo "$key" | awk '/Key ID:/ {print $3}')
  S3_SECRET=$(echo "$key" | awk '/Secret key:/ {print $3}')
  garage -c "$g/garage.toml" bucket allow --read --write --owner bench --key bench-key >/dev/null
}

archive() { # one object, downloaded once, then uploaded by a pass / by aws s3 cp
  command -v garage >/dev/null || { echo "archive: garage not on PATH (cargo install --locked garage@2.5.0); skipped"; return 0; }
  local mib=${BENCH_ARCHIVE_MIB:-1024} file
  BYTES=$((mib * 1024 * 1024))
  start_emulator "dds-bench-arch:1x${mib}MiB"
  start_garage
  config dds-bench-arch arch-get
  sed -i "s|dir = \"$WORK/data\"|dir = \"$WORK/adata\"|" "$WORK/arch-get.toml"
  "$BIN/dds-backup-sync" --sync-now --config "$WORK/arch-get.toml" >/dev/null 2>"$WORK/run.err" \
    || { echo "bench: the archive's download failed"; tail -5 "$WORK/run.err"; exit 1; }
  # Each round uploads under a fresh prefix (the archive would otherwise hold it already).
  cp "$WORK/arch-get.toml" "$WORK/arch-put.tmpl"
  cat >>"$WORK/arch-put.tmpl" <<TOML
[archive]
url = "s3://bench/ROUND"
endpoint = "$S3_URL"
region = "garage"
path_style = true
access_key_id = "$S3_KEY"
secret_access_key = "$S3_SECRET"
part_size = "16MiB"
uploads = 4
TOML
  echo 0 >"$WORK/round"
  local next='n=$(($(cat "$0/round") + 1)); echo $n >"$0/round"'
  run "archive $mib MiB to Garage: dds-backup-sync" sh -c "$next"'; sed "s|ROUND|r$n|" "$0/arch-put.tmpl" >"$0/arch-put.toml"; chmod 600 "$0/arch-put.toml"; exec "$1" --sync-now --config "$0/arch-put.toml"' "$WORK" "$BIN/dds-backup-sync"
  file=$(find "$WORK/adata" -name '*.xb' | head -1)
  if command -v aws >/dev/null; then
    printf '[default]\nregion = garage\ns3 =\n  multipart_chunksize = 16MB\n  multipart_threshold = 16MB\n  max_concurrent_requests = 4\n' >"$WORK/aws.cfg"
    AWS_CONFIG_FILE="$WORK/aws.cfg" AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET \
      run "archive $mib MiB to Garage: aws s3 cp" sh -c "$next"'; exec aws --endpoint-url "$1" s3 cp --only-show-errors "$2" "s3://bench/aws$n/file"' "$WORK" "$S3_URL" "$file"
  else
    echo "aws: not installed (pip install awscli)"
  fi
}

copies() { # many small copies: a first pass, an idle pass, a scrub
  local n=${BENCH_COPIES:-10000} kib=${BENCH_COPY_KIB:-3} label
  BYTES=$((n * kib * 1024))
  label="$n x $kib KiB"
  # 30 s apart: all of them within the emulator's 7-day expiry.
  start_emulator "dds-bench-copies:${n}x${kib}KiB" --generate-every 30s
  config dds-bench-copies copies
  sed -i "s/^concurrency = 4$/concurrency = 16/" "$WORK/copies.toml"
  sed -i 's/^lookback = "30d"/lookback = "8d"/' "$WORK/copies.toml"
  run "$label: first pass" "$BIN/dds-backup-sync" --sync-now --config "$WORK/copies.toml"
  KEEP_DATA=1 run "$label: idle pass" "$BIN/dds-backup-sync" --sync-now --config "$WORK/copies.toml"
  KEEP_DATA=1 run "$label: --verify" "$BIN/dds-backup-sync" --verify --config "$WORK/copies.toml"
  echo "  target (issue #21): an idle pass over 10,000 copies under 1 s of CPU and 64 MiB RSS"
}

has() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

echo "dds-backup-sync benchmark on $(nproc) cores, $(date -u +%F), best of $ROUNDS"
echo "(CPU: user + sys of the client alone; the emulator's own CPU is not counted)"
[ "$BIN" = "$RELEASE" ] || echo "(binaries from $BIN, not a release build of this checkout)"
if has loopback; then
  emulator
  single "loopback:"
  many "loopback:"
fi
if has link; then
  emulator --body-rate "${RATE_MIB}MiB"
  single "${RATE_MIB} MiB/s link:"
  # Four connections share the link: a quarter of the rate each.
  emulator --body-rate "$((RATE_MIB / 4))MiB"
  many "${RATE_MIB} MiB/s link:"
fi
if has streams; then
  streams
fi
if has archive; then
  archive
fi
if has copies; then
  copies
fi
