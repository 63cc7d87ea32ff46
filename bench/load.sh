#!/usr/bin/env bash
# Load on the local server: requests/s and latency percentiles of token/verify,
# validate-mobile-number and pin/validate, with `oha` (installed here into bench/.tools on first
# use). The server runs from the release build over a fresh SQLite file.
# Usage: bench/load.sh [DURATION (default 10s)] [CONNECTIONS (default 50)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10s}"
CONNECTIONS="${2:-50}"
TOOLS="bench/.tools"

if [ ! -x "$TOOLS/bin/oha" ]; then
    echo "== installing oha into $TOOLS"
    cargo install oha --locked --quiet --root "$TOOLS"
fi
OHA="$TOOLS/bin/oha"

echo "== cargo build --release -p stamps-auth"
cargo build --release --locked -p stamps-auth
BIN="${CARGO_TARGET_DIR:-target}/release/stamps-auth"
WORK=$(mktemp -d)
STORE="sqlite:$WORK/load.db"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" --store "$STORE" serve --addr "127.0.0.1:$PORT" --outbox "$WORK/outbox" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    curl -s -o /dev/null "$URL/api/token/verify/" -X OPTIONS && break
    sleep 0.1
done

KEY=$("$BIN" --store "$STORE" merchant create --name Load | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
"$BIN" --store "$STORE" customer create --merchant 1 --email ann@example.com --mobile 081234567890 >/dev/null
curl -s "$URL/api/pin/set" -H "Authorization: Token $KEY" --data 'user=ann@example.com&pin=135790&confirm_pin=135790' >/dev/null
TOKEN=$(curl -s "$URL/api/token/" -H 'Content-Type: application/json' -d "{\"token\": \"$KEY\", \"merchant\": 1}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Summary, percentiles and status codes of oha's report (not its histogram).
run() {
    local name="$1" connections="$2"; shift 2
    echo
    echo "== $name ($DURATION, $connections connections)"
    "$OHA" --no-tui -z "$DURATION" -c "$connections" -m POST "$@" \
        | grep -E "Success rate|Requests/sec|Slowest|Fastest|Average|^ *(10|25|50|75|90|95|99)\.00% in|^ *99\.90% in|^ *\[[0-9]{3}\] [0-9]+ responses"
}

run "POST /api/token/verify/" "$CONNECTIONS" -H 'Content-Type: application/json' -d "{\"access_token\": \"$TOKEN\"}" "$URL/api/token/verify/"
run "POST /api/auth/validate-mobile-number" "$CONNECTIONS" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"mobile_number": "081234567890"}' "$URL/api/auth/validate-mobile-number"
# Each request is one argon2id check (m=19456 KiB, t=2): this measures the hashing budget, with
# as many connections as cores. One customer's PIN has at most 3 checks in flight (an attempt is
# reserved before the check and given back after a right PIN), so more connections on this one
# customer would mostly measure `pin_blocked` answers.
CORES=$(nproc)
run "POST /api/pin/validate" "$CORES" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"user": "ann@example.com", "pin": "135790"}' "$URL/api/pin/validate"
