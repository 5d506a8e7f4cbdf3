#!/usr/bin/env bash
# Issue 18's table in one run (a benchmark, not a test): every row printed
# as a figure and a ratio measured in the same run, so the machine's load
# cancels out as far as it can.
#   1. with the peer kit (../shared/peers, installed by `peers.sh install`):
#      its side.sh — `paige run` with 100 secrets against the floor
#      (`env K=V… /bin/true`), sops and OpenBao; HTTP list and durable PUT
#      against OpenBao. Without it: bench/run-overhead.sh (the floor only).
#   2. bubblewrap's own cost: `bwrap` with a layout like paige's running
#      /bin/true, against /bin/true (the issue's goal is floor + this + 1 ms);
#   3. warm `resolve` of 100 secrets (`cargo bench -p paige --bench store`);
#   4. the redactor's throughput with 100 secrets (paige-redact's example).
# Usage: [PAIGE=bin] bench/table.sh     (PEERS=dir overrides ../shared/peers)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 1; }
if [ -z "${PAIGE:-}" ]; then
  cargo build --release -q -p paige
fi
paige=$(realpath "${PAIGE:-${CARGO_TARGET_DIR:-target}/release/paige}")
peers=${PEERS:-../shared/peers}
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. paige against the floor and its peers"
if [ -x "$peers/side.sh" ] && [ -d "${WORK:-/tmp/peers-bench}/venv" ]; then
  "$peers/side.sh" "$paige"
else
  echo "(no peer kit installed: \`$peers/peers.sh install\` adds sops and OpenBao; the floor only)"
  PAIGE=$paige RUNS=100 bench/run-overhead.sh
fi

echo "== 2. bubblewrap's own cost"
# The shape of paige's sandbox (runtime/bwrap.rs): new namespaces, a
# read-only system, a private /tmp, /proc and /dev, no network.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bwrap_args="--unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/bin /bin \
--symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp --clearenv"
hyperfine -N --style basic --runs 100 --warmup 10 --export-json "$work/bwrap.json" \
  -n true "/bin/true" -n bwrap "bwrap $bwrap_args /bin/true" >/dev/null 2>&1
python3 - "$work/bwrap.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"bwrap: /bin/true {r['true']:.2f} ms, bwrap /bin/true {r['bwrap']:.2f} ms, bwrap's own cost {r['bwrap'] - r['true']:.2f} ms")
PY

echo "== 3. warm resolve of 100 secrets"
cargo bench -q -p paige --bench store 2>/dev/null | grep -i -E "resolve|list|of which" || true

echo "== 4. the redactor, 100 secrets"
cargo run -q --release -p paige-redact --example throughput -- --secrets 100 --passes 3
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
