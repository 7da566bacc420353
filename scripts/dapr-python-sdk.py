"""Drives `statestore serve` over gRPC with Dapr's unchanged Python SDK, as
an application would: save and get, etags (round trip, stale, first-write),
delete with an etag, bulk get with a missing key, transactions (one that
commits, one with a stale etag that changes nothing), query, and the API
token (a wrong one refused, the right one accepted).

Usage: DAPR_HTTP_PORT=.. DAPR_GRPC_PORT=.. DAPR_API_TOKEN=.. \
       python scripts/dapr-python-sdk.py <store> <query store>
(run by scripts/test with `dapr` 1.19.0 from PyPI in a venv; the SDK waits
on the HTTP healthz before it talks gRPC).
"""

import json
import sys

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateOptions
from dapr.conf import settings


def refused(call, code, error_code=None):
    """Runs call, which must fail with this gRPC code (and Dapr error code)."""
    try:
        call()
    except DaprGrpcError as e:
        assert e.code() == code, f"expected {code}, got {e.code()}: {e.details()}"
        if error_code is not None:
            assert e.error_code() == error_code, f"expected {error_code}, got {e.error_code()}"
        return e
    raise AssertionError(f"expected {code}, but the call succeeded")


def main():
    store, query_store = sys.argv[1], sys.argv[2]
    with DaprClient() as d:
        d.save_state(store, "py-1", '{"n":1}', state_metadata={"contentType": "application/json"})
        got = d.get_state(store, "py-1")
        assert json.loads(got.data) == {"n": 1}, got.data
        assert got.etag, "a read returns an etag"

        # Etag round trip; a stale etag is Aborted and changes nothing.
        d.save_state(store, "py-1", b"two", etag=got.etag)
        stale = refused(
            lambda: d.save_state(store, "py-1", b"three", etag=got.etag),
            grpc.StatusCode.ABORTED,
            "ERR_STATE_SAVE",
        )
        assert d.get_state(store, "py-1").data == b"two", stale

        # First write: refused on a key that exists.
        first = StateOptions(concurrency=Concurrency.first_write)
        d.save_state(store, "py-new", b"x", options=first)
        refused(lambda: d.save_state(store, "py-new", b"y", options=first), grpc.StatusCode.ABORTED)
        assert d.get_state(store, "py-new").data == b"x"

        # Delete with an etag: a stale one is refused, the current one deletes.
        current = d.get_state(store, "py-new").etag
        d.save_state(store, "py-new", b"z", etag=current)
        refused(lambda: d.delete_state(store, "py-new", etag=current), grpc.StatusCode.ABORTED)
        d.delete_state(store, "py-new", etag=d.get_state(store, "py-new").etag)
        assert d.get_state(store, "py-new").data == b""

        # Bulk get with a missing key: an item with only its key.
        items = {i.key: i for i in d.get_bulk_state(store, ["py-1", "py-missing"]).items}
        assert items["py-1"].data == b"two" and items["py-1"].etag
        assert items["py-missing"].data == b"" and not items["py-missing"].etag

        # A transaction that commits.
        etag = d.get_state(store, "py-1").etag
        d.execute_state_transaction(
            store,
            [
                TransactionalStateOperation(key="py-1", data=b"t1", etag=etag),
                TransactionalStateOperation(key="py-2", data=b"t2"),
            ],
        )
        assert d.get_state(store, "py-1").data == b"t1"
        assert d.get_state(store, "py-2").data == b"t2"

        # A transaction with a stale etag changes nothing.
        refused(
            lambda: d.execute_state_transaction(
                store,
                [
                    TransactionalStateOperation(key="py-2", data=b"lost"),
                    TransactionalStateOperation(
                        key="py-1", etag=etag, operation_type=TransactionOperationType.delete
                    ),
                ],
            ),
            grpc.StatusCode.INTERNAL,
            "ERR_STATE_TRANSACTION",
        )
        assert d.get_state(store, "py-1").data == b"t1"
        assert d.get_state(store, "py-2").data == b"t2"

        # Query, on a store that supports it (the JavaScript run writes
        # documents with "city" to the same store; these have "town").
        for i, city in enumerate(["Oslo", "Lima", "Oslo"]):
            d.save_state(
                query_store,
                f"person-{i}",
                json.dumps({"town": city, "age": 30 + i}),
                state_metadata={"contentType": "application/json"},
            )
        q = {"filter": {"EQ": {"town": "Oslo"}}, "sort": [{"key": "age", "order": "DESC"}]}
        res = d.query_state(query_store, json.dumps(q))
        assert [r.key for r in res.results] == ["person-2", "person-0"], res.results
        assert json.loads(res.results[0].value)["age"] == 32

    # The token: the one configured works (above); a wrong one is refused.
    right = settings.DAPR_API_TOKEN
    assert right, "run with DAPR_API_TOKEN set"
    settings.DAPR_API_TOKEN = "wrong-" + right
    with DaprClient() as wrong:
        refused(lambda: wrong.get_state(store, "py-1"), grpc.StatusCode.UNAUTHENTICATED)
    settings.DAPR_API_TOKEN = right
    with DaprClient() as d:
        assert d.get_state(store, "py-1").data == b"t1"
    print(f"Dapr Python SDK over gRPC on {store}: etags, first-write, delete, bulk get, "
          f"transactions, query on {query_store}, token: ok")


if __name__ == "__main__":
    main()
