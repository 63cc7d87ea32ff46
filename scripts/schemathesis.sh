#!/usr/bin/env bash
# Schemathesis against docs/openapi.yaml and the local server: generated requests for every
# operation, checking that no answer is a 5xx and that every answer (status, content type,
# body) is one the document describes. Installs schemathesis into ./.venv-schemathesis (kept
# apart from the moto/SAM tools, whose pins differ). Usage: scripts/schemathesis.sh [EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${1:-100}"
SCHEMATHESIS_VERSION="4.32.5"
VENV=".venv-schemathesis"
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked -p stamps-auth
BIN="target/debug/stamps-auth"
WORK=$(mktemp -d)
STORE="sqlite:$WORK/st.db"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The v2 merchant is the first one, created below; Facebook's Graph API is a closed port, so a
# generated fb_token gets the documented 503. Every request comes from 127.0.0.1: the per-IP
# windows of the v2 routes are set out of reach (their 429 is documented all the same).
STAMPS_V2_MERCHANT=1 STAMPS_FACEBOOK_GRAPH_URL="http://127.0.0.1:9" \
    STAMPS_V2_IP_LOGIN_FAILURES_PER_WINDOW=1000000 STAMPS_V2_IP_REGISTRATIONS_PER_WINDOW=1000000 \
    STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW=1000000 \
    "$BIN" --store "$STORE" serve --addr "127.0.0.1:$PORT" --outbox "$WORK/outbox" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
    curl -s -o /dev/null -X OPTIONS "http://127.0.0.1:$PORT/api/token/" && break
    sleep 0.1
done
KEY=$("$BIN" --store "$STORE" merchant create --name Schemathesis | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
"$BIN" --store "$STORE" customer create --merchant 1 --email ann@example.com --mobile 081234567890 --password violet-otter-kettle >/dev/null

# not_a_server_error: no 5xx, except the 503 a request needing Facebook rightly gets (the
# documented answer, so the conformance checks still apply to it).
SCHEMATHESIS_TELEMETRY=false "$VENV/bin/schemathesis" run docs/openapi.yaml \
    --url "http://127.0.0.1:$PORT" \
    -H "Authorization: Token $KEY" \
    --checks status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "$EXAMPLES" \
    --seed 1
# The server log has one line per request; count the 5xx it answered, 503s from Facebook apart.
FIVE_XX=$(grep -c '"status":5' "$WORK/server.log" || true)
FACEBOOK=$(grep -c 'Facebook Graph API unavailable' "$WORK/server.log" || true)
echo "server answered $(grep -c '"message":"request"' "$WORK/server.log" || true) requests; 5xx: $FIVE_XX (Facebook unreachable: $FACEBOOK)"
if [ "$FIVE_XX" != "$FACEBOOK" ]; then
    grep '"status":5' "$WORK/server.log" | head -20
    exit 1
fi
