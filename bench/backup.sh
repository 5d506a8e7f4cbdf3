#!/usr/bin/env bash
# Backup figures for issue 20 (a benchmark, not a test): builds a store of
# PROJECTS projects x SECRETS secrets (default 10,000 x 100 = one million
# values) by the fastest path (the library's import, many projects per
# group-commit transaction), then times the release binary's
# `paige backup create`, `paige backup verify --with-key` and
# `paige backup restore`, and prints the backup's size beside the database's.
#
#   bench/backup.sh [PROJECTS] [SECRETS]
#
# The store lives in a temporary dir beside target/ (PAIGE_BENCH_DIR names
# another); it needs about three times the database's size on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
export PAIGE_BENCH_PROJECTS=${1:-10000}
export PAIGE_BENCH_SECRETS=${2:-100}
cargo bench -q -p paige --bench backup
