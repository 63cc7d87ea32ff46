#!/usr/bin/env bash
# The benchmarks' checks, as the product's test command runs its own: formatting, lints
# (warnings are errors), the harness's unit tests, and a build of it and every baseline. The
# benchmarks are a workspace of their own (bench/Cargo.toml), so the product's clippy and tests
# do not build them; run this after changing bench/ or what it uses of `shared` and `integration-tests`.
set -euo pipefail
cd "$(dirname "$0")"
echo "== cargo fmt --check (bench)"
cargo fmt -- --check
echo "== cargo clippy (bench)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (bench: the harness's own unit tests)"
cargo test --workspace --locked
echo "== cargo build (bench)"
cargo build --workspace --locked
