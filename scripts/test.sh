#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test, including the
# DynamoDB/SNS/SES ones against moto (a real AWS-compatible server on loopback, installed and
# started here, stopped on exit). Needs only a Rust toolchain and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1-2. moto, installed into ./.venv and started on a free loopback port (stopped on exit).
source scripts/moto.sh

# 3. The checks.
./scripts/lint-deploy.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build --bins (the end-to-end tests run the real function binaries)"
cargo build --workspace --bins --locked
echo "== cargo test"
cargo test --workspace --locked
echo "== schemathesis (docs/openapi.yaml against the local server)"
./scripts/schemathesis.sh 50
