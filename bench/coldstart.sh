#!/usr/bin/env bash
# Cold start, warm latency, peak RSS and size of every function beside its baseline, in one
# run: starts moto (DynamoDB, SNS, SES), builds the harness, which builds each function as it
# is deployed and prints Markdown tables. Arguments go to the harness: --cold N (default 10),
# --warm N (default 1000; 100 with --memory), --only a,b, --no-build, --compare DIR (also
# measure DIR/NAME, say a copy of target/coldstart-bins/ made before a change, in the same run),
# --memory all|full,128,... (under each memory size's CPU share: the curve, the chosen sizes,
# the cost; needs root, for the cgroups), --tls, --out DIR (tables and charts),
# --check-quota. See BENCHMARKS.md and bench/coldstart/src/main.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh
# The functions link no aws-lc; the GetItem baseline does (the SDK's default client). Built
# without aws-lc's CPU-jitter entropy source, whose seeding is a start-up cost, the baseline is
# the fastest usual function, not a slow one.
export AWS_LC_SYS_NO_JITTER_ENTROPY=1
# The harness is in the benchmarks' own workspace (bench/Cargo.toml); it shares the product's
# target directory, where it also builds the functions (see bench/.cargo/config.toml).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== cargo build --release -p coldstart (the harness, in bench/)"
(cd bench && cargo build --release --locked -p coldstart)
"$CARGO_TARGET_DIR/release/coldstart" "$@"
