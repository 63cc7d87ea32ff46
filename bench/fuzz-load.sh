#!/usr/bin/env bash
# Fuzz-shaped load on the local server (issue 20 item 10): REQUESTS requests (default
# 1,000,000) shaped like the seeded schemathesis run (bench/fuzz-load.py says how), over
# CONNECTIONS keep-alive connections on loopback (default 16). Reports the answers per route,
# the 5xx count (must be 0; the exit status is 1 otherwise) and requests per second. The
# server runs from the release build over a fresh SQLite file, seeded with TARGETS customers
# (default 200) that have a password, the odd ones a PIN. Python 3's standard library only.
# Usage: bench/fuzz-load.sh [REQUESTS] [CONNECTIONS] [TARGETS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-1000000}"
CONNECTIONS="${2:-16}"
TARGETS="${3:-200}"
SEED="${4:-1}"

echo "== cargo build --release -p stamps-auth"
cargo build --release --locked -p stamps-auth
BIN="${CARGO_TARGET_DIR:-target}/release/stamps-auth"
WORK=$(mktemp -d)
STORE="sqlite:$WORK/load.db"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
# The log would hold a line per request: only warnings and errors are kept. Every request comes
# from 127.0.0.1: the v2 routes' per-network windows are set out of reach, or most v2 requests
# would measure their 429.
RUST_LOG=warn STAMPS_V2_MERCHANT=1 STAMPS_V2_IP_LOGIN_FAILURES_PER_WINDOW=1000000000 \
    STAMPS_V2_IP_REGISTRATIONS_PER_WINDOW=1000000000 STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW=1000000000 \
    "$BIN" --store "$STORE" serve --addr "127.0.0.1:$PORT" --outbox "$WORK/outbox" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
    curl -s -o /dev/null -X OPTIONS "$URL/api/token/" && break
    sleep 0.1
done

echo "== seeding $TARGETS customers"
KEY=$("$BIN" --store "$STORE" merchant create --name Load | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
"$BIN" --store "$STORE" template put --merchant 1 --code reset_code --subject "Your code" \
    --text "Your code is {{ otp }}." --sms "Code {{ otp }}" >/dev/null
for n in $(seq 1 "$TARGETS"); do
    "$BIN" --store "$STORE" customer create --merchant 1 --email "fuzz$n@example.com" --member-id "F-$n" \
        --password violet-otter-kettle >/dev/null 2>&1
    if [ $((n % 2)) = 1 ]; then
        PIN=$(printf '%06d' "$n")
        curl -sf -o /dev/null "$URL/api/pin/set" -H "Authorization: Token $KEY" \
            --data "user=$n&pin=$PIN&confirm_pin=$PIN"
    fi
done

echo "== $REQUESTS requests, $CONNECTIONS connections (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
STATUS=0
python3 bench/fuzz-load.py "$URL" "$KEY" "$TARGETS" "$REQUESTS" "$CONNECTIONS" "$SEED" || STATUS=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
    echo "the server logged errors:"
    grep '"level":"ERROR"' "$WORK/server.log" | head -20
    STATUS=1
fi
exit "$STATUS"
