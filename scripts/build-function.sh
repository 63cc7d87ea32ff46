#!/usr/bin/env bash
# One function's step of `sam build` (the Makefile's build-<LogicalId>): builds the function
# for Lambda (arm64, the release profile) and copies its binary to ARTIFACTS_DIR as bootstrap.
#
# Every function with the same [dependencies] as this one is built in the same cargo
# invocation: each keeps exactly its own features of `shared` (cargo unifies features within
# one invocation, so all 26 at once would give every function every feature), the group's
# fat-LTO links run in parallel, and the group's other functions, when SAM gets to them, find
# their binaries built. SAM runs these steps in parallel; a lock queues them.
#
# `scripts/build-function.sh --package-of LogicalId` prints the package it would build (the
# deployment test checks it against each function's Metadata).
set -euo pipefail
cd "$(dirname "$0")/.."
package_of() { # PinValidateFunction -> pin-validate, V2LoginFunction -> v2-login
    sed -E 's/Function$//; s/([a-z0-9])([A-Z])/\1-\2/g' <<<"$1" | tr '[:upper:]' '[:lower:]'
}
if [[ "${1:-}" == "--package-of" ]]; then
    package_of "$2"
    exit 0
fi
logical_id=$1
artifacts=$2
name=$(package_of "$logical_id")
if [[ ! -f "functions/$name/Cargo.toml" ]]; then
    echo "build-function: $logical_id names no package (functions/$name)" >&2
    exit 1
fi
dependencies() { sed -n '/^\[dependencies\]/,$p' "functions/$1/Cargo.toml"; }
own=$(dependencies "$name")
packages=()
for manifest in functions/*/Cargo.toml; do
    other=$(basename "$(dirname "$manifest")")
    if [[ "$(dependencies "$other")" == "$own" ]]; then
        packages+=(-p "$other")
    fi
done
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
# One step at a time: cargo-lambda moves each binary out of cargo's output once it is built,
# and cargo's own lock does not cover that move, so two steps of one group at once would both
# try to move the same binary (and one would fail).
exec 9>"$target/.build-function.lock"
flock 9
cargo lambda build --release --arm64 --locked "${packages[@]}"
cp "$target/lambda/$name/bootstrap" "$artifacts/bootstrap"
