#!/usr/bin/env bash
# Dashboard figures: the server's time to render the Settings → Secrets page
# of a project with 1,000 secrets (median and p90 over N requests, from the
# server's own request log and from curl), and the page's transfer size.
# Goal: under 20 ms and under 200 KB.
#
#   bench/dashboard.sh [N]        # default N=200; needs curl
#
# Starts a release `paige serve` on a free loopback port over a fresh data
# dir, signs in through the form and GETs the page N times, one at a time,
# with `Accept-Encoding: gzip` as a browser sends it.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}

cargo build --release -q -p paige
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/paige
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export PAIGE_DATA_DIR=$work/data

echo 'a long password!' | "$bin" users create alice@example.com >/dev/null
"$bin" projects create bench --owner alice@example.com >/dev/null
for i in $(seq -w 1 1000); do
  printf 'SERVICE_%s_API_KEY=sk-%s\n' "$i" "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
done >"$work/bench.env"
"$bin" secrets import bench "$work/bench.env" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
PAIGE_LOG=info "$bin" serve --listen "127.0.0.1:$port" 2>"$work/server.log" >/dev/null &
server=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

jar=$work/cookies
csrf=$(curl -s -c "$jar" -b "$jar" "$base/login" | grep -o 'name="csrf" value="[^"]*"' | head -n1 | cut -d'"' -f4)
status=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
  --data-urlencode "csrf=$csrf" --data-urlencode email=alice@example.com \
  --data-urlencode 'password=a long password!' "$base/login")
[ "$status" = 303 ] || { echo "sign-in failed: $status" >&2; exit 1; }

page=$base/projects/bench/settings/secrets
for _ in $(seq 20); do curl -s -o /dev/null -b "$jar" "$page"; done   # warm-up
: >"$work/server.log.mark"
start_line=$(wc -l <"$work/server.log")
for _ in $(seq "$n"); do
  curl -s --compressed -o /dev/null -b "$jar" -w '%{time_starttransfer} %{size_download} %{http_code}\n' "$page"
done >"$work/curl.txt"
plain_size=$(curl -s -b "$jar" "$page" | wc -c)
rows=$(curl -s -b "$jar" "$page" | grep -c '<td data-label="Key"><code>' || true)

awk '$3 != 200 { bad++ } END { if (bad) { print bad " requests failed" > "/dev/stderr"; exit 1 } }' "$work/curl.txt"
median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] }'; }
p90() { sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int(NR * 0.9)] }'; }
server_ms() {
  tail -n +"$((start_line + 1))" "$work/server.log" |
    grep 'route=/projects/{slug}/settings/secrets' | grep -o 'latency_us=[0-9]*' | cut -d= -f2 |
    awk '{ print $1 / 1000 }'
}
size=$(head -n1 "$work/curl.txt" | cut -d' ' -f2)

echo "secrets page, project with 1,000 secrets ($rows rows), $n sequential GETs:"
echo "  server time (request log) median $(server_ms | median) ms, p90 $(server_ms | p90) ms"
echo "  time to first byte (curl)  median $(awk '{ print $1 * 1000 }' "$work/curl.txt" | median) ms, p90 $(awk '{ print $1 * 1000 }' "$work/curl.txt" | p90) ms"
kib() { awk -v s="$1" 'BEGIN { printf "%.1f", s / 1024 }'; }
echo "  transfer size $size bytes ($(kib "$size") KiB) gzipped, as browsers ask for it; $plain_size bytes ($(kib "$plain_size") KiB) without Accept-Encoding"
