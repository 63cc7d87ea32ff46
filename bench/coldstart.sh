#!/usr/bin/env bash
# Cold start, warm latency, peak RSS and size of every function, with the two baselines, in one
# run. Builds the release binaries, starts moto (DynamoDB, SNS, SES), and prints a Markdown
# table. Arguments go to the harness: --cold N, --warm N, --only a,b.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh
echo "== cargo build --release (functions, baselines, harness)"
cargo build --release --locked --workspace --bins --exclude integration-tests
./target/release/coldstart "$@"
