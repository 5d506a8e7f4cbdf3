#!/usr/bin/env bash
# Warm runtime figures for issue 13 (a benchmark, not a test). The Express
# fixture (tests/fixtures/express) as a project in `http` mode behind a
# loopback `paige serve`, against the same app run directly by node:
#   1. added latency, p50 and p99, of a signed 1 KiB WhatsApp webhook on a
#      warm process (wrk, one connection, one request at a time);
#   2. requests per second with 1 and 2 warm processes (wrk -c4);
#   3. cold start: the first request after a rotation (a secret
#      overwritten), against node's own start time for the app;
#   4. where the time goes: the median of each phase of the webhook path
#      (`paige::runtime::timing` debug events, one server run of its own
#      so the logging does not weigh on 1.), the execution's opening write
#      (`open`, an fsync'd transaction) among them.
# Needs wrk and npm. Usage: [PAIGE=bin] bench/hooks.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
port=${PAIGE_BENCH_PORT:-18090}
direct_port=$((port + 50))
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
app=crates/paige/tests/fixtures/express
[ -f "$app/node_modules/express/package.json" ] ||
  npm install --no-audit --no-fund --no-package-lock --prefix "$app" >/dev/null
if [ -z "${PAIGE:-}" ]; then
  cargo build --release -q -p paige
fi
paige=$(realpath "${PAIGE:-${CARGO_TARGET_DIR:-target}/release/paige}")
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$work"' EXIT
export PAIGE_DATA_DIR=$work/data
secret=bench-app-secret-4c1d

"$paige" projects create hooks >/dev/null
printf '%s' "$secret" | "$paige" secrets set hooks WHATSAPP_APP_SECRET >/dev/null
"$paige" code push hooks "$app" >/dev/null

. bench/hooks_body.sh
webhook_body "$work" "$secret"
echo "body: $(wc -c <"$work/body.json") bytes"

start_server() { # processes [log filter]
  PAIGE_BOT_PROCESSES=$1 PAIGE_LOG=${2:-warn} "$paige" serve --listen "127.0.0.1:$port" >/dev/null 2>"$work/serve.log" &
  server=$!
  pids+=("$server")
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}
stop_server() { kill -s TERM "$server"; wait "$server" 2>/dev/null || true; }
p() { # wrk output, percentile label -> value
  awk -v k="$2" '$1 == k { print $2 }' <<<"$1"
}

hook=http://127.0.0.1:$port/hooks/hooks/whatsapp_webhook
direct=http://127.0.0.1:$direct_port/whatsapp_webhook

# The app directly, as node runs it (a TCP port: wrk speaks TCP).
(cd "$app" && PORT=$direct_port WHATSAPP_APP_SECRET=$secret exec node app.js >/dev/null) &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$direct_port/version" >/dev/null 2>&1 && break; sleep 0.1; done
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: $WRK_SIGNATURE" --data-binary @"$work/body.json" "$direct")
[ "$status" = 200 ] || { echo "the signed body is refused by the app ($status)" >&2; exit 1; }

start_server 1
curl -fs -o /dev/null -H 'Content-Type: application/json' -H "X-Hub-Signature-256: $WRK_SIGNATURE" \
  --data-binary @"$work/body.json" "$hook" # warm it
echo "== latency, 1 connection, ${seconds}s each"
d=$(wrk -t1 -c1 -d"${seconds}s" --latency -s bench/hooks.lua "$direct")
h=$(wrk -t1 -c1 -d"${seconds}s" --latency -s bench/hooks.lua "$hook")
printf 'direct:        p50 %s  p99 %s  (%s req/s)\n' "$(p "$d" 50%)" "$(p "$d" 99%)" "$(p "$d" Requests/sec:)"
printf 'through paige: p50 %s  p99 %s  (%s req/s)\n' "$(p "$h" 50%)" "$(p "$h" 99%)" "$(p "$h" Requests/sec:)"
grep -q 'Non-2xx' <<<"$h" && echo "warning: non-2xx answers through paige"

echo "== throughput, 4 connections, ${seconds}s each"
d=$(wrk -t2 -c4 -d"${seconds}s" -s bench/hooks.lua "$direct")
printf 'direct (1 node process):  %s req/s\n' "$(p "$d" Requests/sec:)"
h=$(wrk -t2 -c4 -d"${seconds}s" -s bench/hooks.lua "$hook")
printf 'paige, 1 warm process:    %s req/s\n' "$(p "$h" Requests/sec:)"
stop_server
start_server 2
curl -fs -o /dev/null "http://127.0.0.1:$port/hooks/hooks/version"
h=$(wrk -t2 -c4 -d"${seconds}s" -s bench/hooks.lua "$hook")
printf 'paige, 2 warm processes:  %s req/s\n' "$(p "$h" Requests/sec:)"

echo "== cold start (median of 10)"
printf 'node start to listening:               %s ms\n' "$(node bench/node_start.js "$app" 10)"
times=()
for i in $(seq 10); do
  printf 'rotated-%s' "$i" | "$paige" secrets set hooks API_TOKEN >/dev/null
  times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/hooks/hooks/version")")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 5p)
printf 'first request after a rotation:        %.1f ms\n' "$(echo "$median * 1000" | bc -l)"
stop_server

echo "== where the time goes (median per phase, ${seconds}s at 1 connection)"
start_server 1 warn,paige::runtime::timing=debug
curl -fs -o /dev/null -H 'Content-Type: application/json' -H "X-Hub-Signature-256: $WRK_SIGNATURE" \
  --data-binary @"$work/body.json" "$hook"
wrk -t1 -c1 -d"${seconds}s" -s bench/hooks.lua "$hook" >/dev/null
stop_server
# Each event: `phases="target=41us admit=2us …"`; the first (cold) one is skipped.
grep -o 'phases=.*' "$work/serve.log" | tail -n +2 | grep -o '[a-z_]*=[0-9]*us' |
  sed 's/us$//' | awk -F= '{ v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    END { for (i = 1; i <= n; i++) { k = order[i]; c = split(substr(v[k], 2), a, " ");
      asort(a); printf "  %-12s %6d us (p50 of %d)\n", k, a[int((c + 1) / 2)], c } }'
