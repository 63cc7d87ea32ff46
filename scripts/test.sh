#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test, including the
# DynamoDB/SNS/SES ones against moto (a real AWS-compatible server on loopback, installed and
# started here, stopped on exit). Needs only a Rust toolchain and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1-2. moto, installed into ./.venv and started on a free loopback port (stopped on exit).
source scripts/moto.sh

# The console's browser tests (tests/tests/console.rs) drive headless Chromium through
# chromedriver. Installed here when missing and we can (root with apt-get); otherwise say what to
# install: those tests fail without them, they are never skipped.
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium and chromium-driver (the console's browser tests)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "The console's browser tests need Chromium and chromedriver at /usr/bin/chromedriver:" >&2
    echo "  sudo apt-get install chromium chromium-driver   (Debian/Ubuntu), then run this again." >&2
    exit 1
  fi
fi

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
