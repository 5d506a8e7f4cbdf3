#!/usr/bin/env bash
# The overhead of `paige run SLUG -- /bin/true` with 10 and 100 secrets,
# against running /bin/true with the same variables set directly
# (`env K=V... /bin/true`). Medians from hyperfine -N (no shell).
#
#   cargo build --release -p paige && bench/run-overhead.sh
#
# PAIGE=path/to/paige overrides the binary; RUNS (default 300) the runs per
# command. The data dir is a fresh temporary one (set TMPDIR to put it on
# another file system: its fsync cost is part of the figure).
set -euo pipefail

cd "$(dirname "$0")/.."
PAIGE=${PAIGE:-${CARGO_TARGET_DIR:-target}/release/paige}
RUNS=${RUNS:-300}
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 1; }
[ -x "$PAIGE" ] || { echo "no release binary at $PAIGE: cargo build --release -p paige" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PAIGE_DATA_DIR=$work/data
# Quiet, like a production run.
unset RUST_LOG

declare -A direct
for n in 10 100; do
  "$PAIGE" projects create "bench-$n" >/dev/null
  envfile=$work/bench-$n.env
  args=""
  for i in $(seq 1 "$n"); do
    # 40 random hex characters per value, like an API key.
    value=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "SECRET_$i=$value" >>"$envfile"
    args="$args SECRET_$i=$value"
  done
  "$PAIGE" secrets import "bench-$n" "$envfile" >/dev/null
  direct[$n]="env$args /bin/true"
done

json=$work/results.json
hyperfine -N --warmup 30 --runs "$RUNS" --export-json "$json" \
  -n "env K=V (10) /bin/true" "${direct[10]}" \
  -n "paige run (10 secrets) -- /bin/true" "$PAIGE run bench-10 -- /bin/true" \
  -n "env K=V (100) /bin/true" "${direct[100]}" \
  -n "paige run (100 secrets) -- /bin/true" "$PAIGE run bench-100 -- /bin/true" \
  >/dev/null

python3 - "$json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print(f"{'command':40} {'median':>9} {'mean':>9} {'min':>9} {'p90':>9}")
for r in results:
    times = sorted(r["times"])
    p90 = times[int(len(times) * 0.9)]
    print(f"{r['command']:40} {r['median']*1e3:8.2f}ms {r['mean']*1e3:8.2f}ms {r['min']*1e3:8.2f}ms {p90*1e3:8.2f}ms")
by = {r["command"]: r["median"] for r in results}
for n in (10, 100):
    paige, direct = by[f"paige run ({n} secrets) -- /bin/true"], by[f"env K=V ({n}) /bin/true"]
    print(f"{n:>3} secrets: paige run {paige*1e3:.2f} ms, direct {direct*1e3:.2f} ms, "
          f"overhead {(paige-direct)*1e3:.2f} ms, ratio {paige/direct:.2f}x")
PY
