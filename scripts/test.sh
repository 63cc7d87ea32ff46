#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test, including the
# DynamoDB/SNS/SES ones against moto (a real AWS-compatible server on loopback, installed and
# started here, stopped on exit). Needs only a Rust toolchain and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.1"
VENV=".venv"

# 1. moto, in a project-local virtualenv (Debian's system Python refuses global pip installs).
if [ ! -x "$VENV/bin/moto_server" ]; then
    echo "== installing moto[server]==$MOTO_VERSION into $VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        python3 -m pip install --quiet --user virtualenv
        python3 -m virtualenv --quiet "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# 2. moto_server on a free loopback port, stopped whatever happens next.
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_LOG=$(mktemp)
# moto's own server, one request at a time (see scripts/moto_server.py for why).
"$VENV/bin/python" scripts/moto_server.py 127.0.0.1 "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; rm -f "$MOTO_LOG"' EXIT
export STAMPS_TEST_MOTO_URL="http://127.0.0.1:$PORT"
for attempt in $(seq 1 150); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('$STAMPS_TEST_MOTO_URL/moto-api/')" 2>/dev/null; then
        break
    fi
    if [ "$attempt" = 150 ] || ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "moto_server did not start:" >&2
        cat "$MOTO_LOG" >&2
        exit 1
    fi
    sleep 0.2
done
echo "== moto_server listening on $STAMPS_TEST_MOTO_URL"

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
