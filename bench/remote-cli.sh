#!/usr/bin/env bash
# Remote CLI figures for issue 15 (a benchmark, not a test): wall time of
# `paige secrets list` and `paige secrets set` against a local `paige serve`,
# beside curl making the same request (the floor). Needs hyperfine.
# Usage: [PAIGE=bin] bench/remote-cli.sh [runs]
#
# Commands are shown by name, not as run: the token stays out of the output.
# set: both read the value from a file on stdin (`sh -c '… < file'`), so
# both pay the same shell; list runs without a shell (-N).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }
if [ -z "${PAIGE:-}" ]; then
  cargo build --release -q -p paige
fi
paige=$(realpath "${PAIGE:-${CARGO_TARGET_DIR:-target}/release/paige}")
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export PAIGE_DATA_DIR="$work/data" XDG_CONFIG_HOME="$work/config"
unset PAIGE_DATABASE_URL
printf 'a long enough password\n' | "$paige" users create bench@example.com >/dev/null
"$paige" projects create bench --owner bench@example.com >/dev/null
for i in $(seq 20); do printf 'value-%02d-abcdefgh' "$i" | "$paige" secrets set bench "KEY_$i" >/dev/null; done
token=$("$paige" tokens create bench@example.com 2>/dev/null)
"$paige" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do grep -q "serving" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
base=$(head -n1 "$work/serve.out" | sed 's/.*serving //')
printf '%s' "$token" | "$paige" login --server "$base" >/dev/null
printf 'a-benchmark-value-123' >"$work/value"
printf '{"value":"a-benchmark-value-123"}' >"$work/body.json"
auth="Authorization: Bearer $token"

echo "== secrets list (20 keys)"
hyperfine -N --warmup 5 --runs "$runs" \
  -n "paige secrets list --server" -n "curl GET …/secrets" \
  "$paige secrets list bench --server $base" \
  "curl -fsS -H '$auth' $base/api/v1/projects/bench/secrets"
echo "== secrets set (an overwrite, durable)"
hyperfine --warmup 5 --runs "$runs" \
  -n "paige secrets set --server" -n "curl PUT …/secrets/HOT_KEY" \
  "$paige secrets set bench HOT_KEY --server $base < $work/value" \
  "curl -fsS -X PUT -H '$auth' -H 'Content-Type: application/json' --data-binary @$work/body.json $base/api/v1/projects/bench/secrets/HOT_KEY"
