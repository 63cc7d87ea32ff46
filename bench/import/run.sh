#!/usr/bin/env bash
# Customer import throughput and peak memory against each store's own bulk-write ceiling,
# measured in the same run (docs/cutover.md): 1,000,000 generated lines on SQLite and 50,000 on
# DynamoDB (moto) by default. Starts moto, builds the release `stamps-auth` (product workspace)
# and the benchmark (`import-bench`, a member of the bench/ workspace; both into target/),
# prints a Markdown table. Options go to the benchmark: --sqlite-lines N, --dynamodb-lines N,
# --only sqlite|dynamodb, --dir DIR (where the input file and databases go; default: the
# system's temp dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
# One target directory for both workspaces (see bench/.cargo/config.toml).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
source scripts/moto.sh
echo "== cargo build --release -p stamps-auth"
cargo build --release --locked -p stamps-auth
echo "== cargo build --release -p import-bench (in bench/)"
(cd bench && cargo build --release --locked -p import-bench)
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$CARGO_TARGET_DIR/release/import-bench" "$@"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
