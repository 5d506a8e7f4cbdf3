#!/usr/bin/env bash
# Scale figures for issue 18 (a benchmark, not a test): fills a store with
# PROJECTS projects x 100 secrets (sealed through paige's own import) and
# EXECUTIONS executions per project (rows generated in SQL), then measures
# with the release binary: `paige serve` start until /healthz answers,
# p50/p99 of listing secrets, executions and audit and of a durable PUT
# over the API, `resolve` (in-process and in `paige run`), a local CLI
# command, and the database's size.
#
#   bench/scale.sh [PROJECTS] [EXECUTIONS]        # defaults 10000 1000
#
# PAIGE_DATABASE_URL=postgres://… (an empty database) measures PostgreSQL.
# PAIGE_SCALE_DIR=DIR keeps the store there: a later run with the same
# sizes skips the fill and measures again, so a change can be measured on
# the same data (PAIGE_SCALE_BIN=path/to/paige runs another build on it).
# Without it the store is a temporary dir beside target/, removed at the
# end. The fill runs at nice 10. 10,000 x 1,000 needs about 1.8 GB on
# SQLite, 3 GB on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export PAIGE_SCALE_PROJECTS=${1:-10000}
export PAIGE_SCALE_EXECUTIONS=${2:-1000}
if [ -z "${PAIGE_SCALE_DIR:-}" ]; then
    target=${CARGO_TARGET_DIR:-target}
    mkdir -p "$target"
    PAIGE_SCALE_DIR=$(mktemp -d "$target/scale.XXXXXX")
    export PAIGE_SCALE_DIR
    trap 'rm -rf "$PAIGE_SCALE_DIR"' EXIT
fi
PAIGE_SCALE_STAGE=fill nice -n 10 cargo bench -q -p paige --bench scale
cargo bench -q -p paige --bench scale
