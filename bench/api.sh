#!/usr/bin/env bash
# API load figures for issue 4 (a benchmark, not a test): `paige serve` on
# loopback, driven by wrk with the same settings as the OpenBao reference
# (-t2 -c32). Prints wrk's summary for:
#   1. GET  /api/v1/projects/bench/secrets   (a project with 100 secrets)
#   2. PUT  /api/v1/projects/bench/secrets/HOT_KEY   (durable overwrites of one key)
# Needs wrk (`apt-get install -y wrk`). Usage: bench/api.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
port=${PAIGE_BENCH_PORT:-18080}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }

cargo build --release -q -p paige
paige=$PWD/target/release/paige
work=$(mktemp -d)
trap 'kill -s TERM "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
export PAIGE_DATA_DIR=$work/data

echo 'bench password 1234' | "$paige" users create bench@example.com >/dev/null
token=$("$paige" tokens create bench@example.com 2>/dev/null)
"$paige" projects create bench --owner bench@example.com >/dev/null
for i in $(seq -w 1 100); do
  echo "SECRET_$i=value-$i-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
done >"$work/bench.env"
"$paige" secrets import bench "$work/bench.env" >/dev/null

PAIGE_LOG=warn "$paige" serve --listen "127.0.0.1:$port" >/dev/null &
server=$!
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

base=http://127.0.0.1:$port/api/v1/projects/bench/secrets
echo "== GET list of 100 secrets (wrk -t2 -c32 -d${seconds}s)"
wrk -t2 -c32 -d"${seconds}s" --latency -H "Authorization: Bearer $token" "$base" | grep -E "Requests/sec|Latency|99%|Non-2xx|requests in"
echo "== PUT one key, durable (wrk -t2 -c32 -d${seconds}s)"
wrk -t2 -c32 -d"${seconds}s" --latency -s bench/put.lua -H "Authorization: Bearer $token" "$base/HOT_KEY" | grep -E "Requests/sec|Latency|99%|Non-2xx|requests in"
echo "== final version of HOT_KEY (= acknowledged PUTs)"
"$paige" secrets list bench --json | grep -A3 '"HOT_KEY"' | grep version
