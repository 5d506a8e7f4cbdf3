#!/usr/bin/env bash
# Two paige builds side by side (issue 13's added latency): each serves the
# Express fixture as a warm `http` project (1 process), the app also runs
# directly, and `wrk -c1` measures all three in interleaved 2-second slices,
# so a busy machine weighs on each alike. Prints p50/p99 per slice.
# Usage: BEFORE=bin AFTER=bin bench/hooks-ab.sh [slices]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
app=crates/paige/tests/fixtures/express
[ -f "$app/node_modules/express/package.json" ] ||
  npm install --no-audit --no-fund --no-package-lock --prefix "$app" >/dev/null
work=$(mktemp -d)
pids=()
# The servers stop (their bots with them) before their data dirs go.
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; rm -rf "$work"' EXIT
secret=bench-app-secret-4c1d
. bench/hooks_body.sh
webhook_body "$work" "$secret"
port=${PAIGE_BENCH_PORT:-18500}
for v in before after; do
  port=$((port + 1))
  name=${v^^}
  bin=$(realpath "${!name:?set BEFORE and AFTER to two paige binaries}")
  export PAIGE_DATA_DIR=$work/$v
  "$bin" projects create hooks >/dev/null
  printf '%s' "$secret" | "$bin" secrets set hooks WHATSAPP_APP_SECRET >/dev/null
  "$bin" code push hooks "$app" >/dev/null 2>&1
  PAIGE_BOT_PROCESSES=1 PAIGE_LOG=warn "$bin" serve --listen "127.0.0.1:$port" >"$work/serve-$v.log" 2>&1 &
  pids+=($!)
  eval "url_$v=http://127.0.0.1:$port/hooks/hooks/whatsapp_webhook"
done
(cd "$app" && PORT=$((port + 10)) WHATSAPP_APP_SECRET=$secret exec node app.js >/dev/null) &
pids+=($!)
url_direct=http://127.0.0.1:$((port + 10))/whatsapp_webhook
sleep 3
for v in before after; do eval "u=\$url_$v"; curl -fs -o /dev/null -H 'Content-Type: application/json' -H "X-Hub-Signature-256: $WRK_SIGNATURE" --data-binary @"$work/body.json" "$u"; done
for i in $(seq "${1:-6}"); do
  line="slice $i (load $(cut -d' ' -f1 /proc/loadavg)):"
  for v in direct before after; do
    eval "u=\$url_$v"
    r=$(wrk -t1 -c1 -d2s --latency -s bench/hooks.lua "$u")
    line="$line $v n2xx=$(grep -o "Non-2xx or 3xx responses: [0-9]*" <<<"$r" | grep -o "[0-9]*$" || echo 0) p50 $(awk '$1 == "50%" { print $2 }' <<<"$r") p99 $(awk '$1 == "99%" { print $2 }' <<<"$r");"
  done
  echo "$line"
done
