#!/usr/bin/env bash
# API load figures for issue 4 (a benchmark, not a test): `paige serve` on
# loopback, driven by wrk with the same settings as the OpenBao reference
# (-t2 -c32). Prints wrk's summary for:
#   1. GET  /api/v1/projects/bench/secrets   (a project with 100 secrets)
#   2. PUT  /api/v1/projects/bench/secrets/HOT_KEY   (durable overwrites of one key)
# Needs wrk (`apt-get install -y wrk`). Usage: [PAIGE=bin] bench/api.sh [seconds] [nodes]
#
# On PostgreSQL: export PAIGE_DATABASE_URL=postgres://…/<an empty database>.
# With nodes > 1 (PostgreSQL only) that many `paige serve` processes share
# the database and the master key; the 32 connections are split evenly
# between them (one wrk per node, run together) and the sum is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
nodes=${2:-1}
port=${PAIGE_BENCH_PORT:-18080}
if [ "$nodes" -gt 1 ] && [ -z "${PAIGE_DATABASE_URL:-}" ]; then
  echo "several nodes need a shared database: set PAIGE_DATABASE_URL" >&2
  exit 1
fi
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }

# PAIGE=path/to/paige measures that binary (say, an older release) instead.
if [ -z "${PAIGE:-}" ]; then
  cargo build --release -q -p paige
fi
paige=$(realpath "${PAIGE:-${CARGO_TARGET_DIR:-target}/release/paige}")
work=$(mktemp -d)
servers=()
trap 'for s in "${servers[@]}"; do kill -s TERM "$s" 2>/dev/null || true; done; rm -rf "$work"' EXIT
export PAIGE_DATA_DIR=$work/data

echo 'bench password 1234' | "$paige" users create bench@example.com >/dev/null
token=$("$paige" tokens create bench@example.com 2>/dev/null)
"$paige" projects create bench --owner bench@example.com >/dev/null
for i in $(seq -w 1 100); do
  echo "SECRET_$i=value-$i-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
done >"$work/bench.env"
"$paige" secrets import bench "$work/bench.env" >/dev/null

# Node 0 serves the data dir set up above; each further node gets its own
# data dir holding a copy of the one master key.
for n in $(seq 0 $((nodes - 1))); do
  dir=$PAIGE_DATA_DIR
  if [ "$n" -gt 0 ]; then
    dir=$work/node$n
    mkdir -p -m 700 "$dir"
    cp -p "$PAIGE_DATA_DIR/master.key" "$dir/master.key"
  fi
  PAIGE_DATA_DIR=$dir PAIGE_LOG=warn "$paige" serve --listen "127.0.0.1:$((port + n))" >/dev/null &
  servers+=($!)
  for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$((port + n))/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

# Runs one wrk per node at once, 32 connections in all; prints each node's
# summary and the total requests per second.
load() {
  local path=$1
  shift
  local outs=()
  for n in $(seq 0 $((nodes - 1))); do
    wrk -t$((nodes > 1 ? 1 : 2)) -c$((32 / nodes)) -d"${seconds}s" --latency "$@" \
      -H "Authorization: Bearer $token" "http://127.0.0.1:$((port + n))/api/v1/projects/bench/secrets$path" \
      >"$work/wrk$n.txt" &
    outs+=($!)
  done
  wait "${outs[@]}"
  for n in $(seq 0 $((nodes - 1))); do
    [ "$nodes" -gt 1 ] && echo "-- node $n"
    grep -E "Requests/sec|Latency|99%|Non-2xx|requests in" "$work/wrk$n.txt"
  done
  [ "$nodes" -gt 1 ] && awk '/Requests\/sec/ { total += $2 } END { printf "total Requests/sec: %.2f\n", total }' "$work"/wrk*.txt
  return 0
}

backend=SQLite
[ -n "${PAIGE_DATABASE_URL:-}" ] && backend="PostgreSQL, $nodes node(s)"
echo "== $backend: GET list of 100 secrets (wrk, 32 connections, ${seconds}s)"
load ""
echo "== $backend: PUT one key, durable (wrk, 32 connections, ${seconds}s)"
load /HOT_KEY -s bench/put.lua
echo "== final version of HOT_KEY (= acknowledged PUTs)"
"$paige" secrets list bench --json | grep -A3 '"HOT_KEY"' | grep version
