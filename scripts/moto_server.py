"""moto_server, one request at a time.

DynamoDB applies each write atomically, and the tests of this project prove that our
conditional writes keep limits under 100 concurrent requests. moto runs requests on
threads and does not lock its tables (a failed transaction even restores a copy of the
whole table, undoing other requests' writes), so it is served here behind one lock: every
request sees the state left by the previous one, as on the real service. Everything else
is moto's own server: the same app, routes and /moto-api/ endpoints.

Usage: moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Read the whole response inside the lock: moto may build it lazily.
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True)


if __name__ == "__main__":
    main()
