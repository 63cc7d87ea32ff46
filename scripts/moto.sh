# Sourced by scripts/test.sh and the benchmarks: installs moto[server] into ./.venv (once) and
# starts it on a free loopback port, stopped when the calling script exits. Exports
# STAMPS_TEST_MOTO_URL. Needs only Python 3.

MOTO_VERSION="5.2.1"
VENV=".venv"

# moto, in a project-local virtualenv (Debian's system Python refuses global pip installs).
if [ ! -x "$VENV/bin/moto_server" ]; then
    echo "== installing moto[server]==$MOTO_VERSION into $VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        python3 -m pip install --quiet --user virtualenv
        python3 -m virtualenv --quiet "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# moto_server on a free loopback port, one request at a time (see scripts/moto_server.py).
MOTO_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_LOG=$(mktemp)
"$VENV/bin/python" scripts/moto_server.py 127.0.0.1 "$MOTO_PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; rm -f "$MOTO_LOG"' EXIT
export STAMPS_TEST_MOTO_URL="http://127.0.0.1:$MOTO_PORT"
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
