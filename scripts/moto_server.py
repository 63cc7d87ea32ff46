"""moto_server, one request at a time.

DynamoDB applies each write atomically, and the tests of this project prove that our
conditional writes keep limits under 100 concurrent requests. moto runs requests on
threads and does not lock its tables (a failed transaction even restores a copy of the
whole table, undoing other requests' writes), so it is served here behind one lock: every
request sees the state left by the previous one, as on the real service. Everything else
is moto's own server: the same app, routes and /moto-api/ endpoints.

moto's TransactWriteItems also deep-copies each table once per item of the transaction, to
roll back a cancelled one: a transaction costs time in proportion to the table, seconds once
it holds a few thousand items (longer than the SDK's attempt timeout, whose retry then finds
its own first write). Here only the items a transaction names are saved and, if it is
cancelled, put back: the same all-or-nothing outcome at a cost independent of the table.

Usage: moto_server.py HOST PORT
"""

import copy
import sys
import threading

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class _TablesNotCopied:
    """`copy` as moto's transaction code sees it while ours keeps the rollback state."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        try:
            operation = next(iter(entry.values()))
            table = self.tables[operation["TableName"]]
            attributes = operation.get("Key") or operation["Item"]
            hash_key = DynamoType(attributes[table.hash_key_attr])
            range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        except Exception:
            continue  # a malformed entry: moto rejects the transaction before writing it
    dynamodb_models.copy = _TablesNotCopied
    try:
        _moto_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(saved):
            bucket = table.items[hash_key] if range_key is not None else table.items
            slot = range_key if range_key is not None else hash_key
            if item is None:
                bucket.pop(slot, None)
            else:
                bucket[slot] = item
        raise
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_write_items


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
