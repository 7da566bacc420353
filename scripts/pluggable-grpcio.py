"""An independent client of a pluggable state component socket, in Python
grpcio, doing what daprd does: discovery through reflection v1alpha (the
message types come from the socket too: no generated code), Init with the
component's metadata, Features, MultiMaxSize, then the calls, every one with
its x-component-instance and the authority daprd's Go client sends.

Usage: pluggable-grpcio.py SOCKET [name=value ...]   (the Init metadata)
The socket's store must offer ETAG, TRANSACTIONAL and QUERY_API.
Exits non-zero, naming the step, on the first difference from what daprd
expects (../docs/testing-pluggable.md).
"""

import json
import sys
import uuid

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

PKG = "dapr.proto.components.v1"
socket = sys.argv[1]
init_metadata = dict(a.split("=", 1) for a in sys.argv[2:])
instance = "grpcio-" + uuid.uuid4().hex[:8]
checked = []


def check(what, ok, detail=""):
    if not ok:
        sys.exit(f"grpcio client, {socket}: {what}: FAILED {detail}")
    checked.append(what)


# The authority daprd's Go client sends over a Unix socket.
channel = grpc.insecure_channel(
    "unix:" + socket, options=[("grpc.default_authority", "localhost")]
)
db = ProtoReflectionDescriptorDatabase(channel)
services = set(db.get_services())
for s in ("StateStore", "TransactionalStateStore", "QueriableStateStore",
          "TransactionalStoreMultiMaxSize"):
    check(f"reflection v1alpha lists {PKG}.{s}", f"{PKG}.{s}" in services, str(services))
pool = descriptor_pool.DescriptorPool(db)


def message(name):
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PKG}.{name}"))


def call(service, method, request, answer, msg, who=None):
    stub = channel.unary_unary(
        f"/{PKG}.{service}/{method}",
        request_serializer=message(request).SerializeToString,
        response_deserializer=message(answer).FromString,
    )
    return stub(msg, metadata=[("x-component-instance", who or instance)], timeout=30)


def state(method, request, answer, msg, who=None):
    return call("StateStore", method, request, answer, msg, who)


def failure(f):
    """The RpcError of f(), or exit naming the call that should have failed."""
    try:
        f()
    except grpc.RpcError as e:
        return e
    sys.exit(f"grpcio client, {socket}: a call that must fail succeeded")


def etag_violation(e):
    """daprd's rule: exactly one detail, a BadRequest with one violation on etag."""
    status = rpc_status.from_call(e)
    if status is None or len(status.details) != 1:
        return False
    bad = error_details_pb2.BadRequest()
    if not status.details[0].Unpack(bad):
        return False
    return len(bad.field_violations) == 1 and bad.field_violations[0].field == "etag"


# A call before Init names the instance.
e = failure(lambda: state("Get", "GetRequest", "GetResponse", message("GetRequest")(key="k")))
check("a call before Init is FailedPrecondition", e.code() == grpc.StatusCode.FAILED_PRECONDITION, str(e))

init = message("InitRequest")()
for k, v in init_metadata.items():
    init.metadata.properties[k] = v
state("Init", "InitRequest", "InitResponse", init)
features = set(state("Features", "FeaturesRequest", "FeaturesResponse", message("FeaturesRequest")()).features)
for f in ("ETAG", "TRANSACTIONAL", "QUERY_API"):
    check(f"Features lists {f}", f in features, str(features))
size = call("TransactionalStoreMultiMaxSize", "MultiMaxSize", "MultiMaxSizeRequest",
            "MultiMaxSizeResponse", message("MultiMaxSizeRequest")())
check("MultiMaxSize answers -1 or a positive size", size.max_size == -1 or size.max_size > 0, str(size))

key = "grpcio-" + uuid.uuid4().hex
Set, Get, Etag = message("SetRequest"), message("GetRequest"), message("Etag")
state("Set", "SetRequest", "SetResponse", Set(key=key, value=b'{"n":1}', content_type="application/json"))
got = state("Get", "GetRequest", "GetResponse", Get(key=key))
check("Get reads the value back", got.data == b'{"n":1}', repr(got.data))
check("Get returns an etag", got.etag.value != "", str(got))
old = got.etag.value
state("Set", "SetRequest", "SetResponse", Set(key=key, value=b'{"n":2}', etag=Etag(value=old)))
check("Set with the current etag succeeds", True)
e = failure(lambda: state("Set", "SetRequest", "SetResponse", Set(key=key, value=b'{"n":3}', etag=Etag(value=old))))
check("Set with a stale etag is FailedPrecondition", e.code() == grpc.StatusCode.FAILED_PRECONDITION, str(e))
check("the stale etag's error has one BadRequest violation on etag", etag_violation(e), str(rpc_status.from_call(e)))
e = failure(lambda: state("Set", "SetRequest", "SetResponse", Set(key=key, value=b"x", etag=Etag(value="not an etag!"))))
check("Set with a malformed etag is InvalidArgument or FailedPrecondition",
      e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION), str(e))
check("the malformed etag's error has one BadRequest violation on etag", etag_violation(e), str(rpc_status.from_call(e)))

# The instance is the component: another instance does not see the key.
other = "grpcio-other-" + uuid.uuid4().hex[:8]
state("Init", "InitRequest", "InitResponse", init, who=other)
seen = state("Get", "GetRequest", "GetResponse", Get(key=key), who=other)
check("instances are told apart by x-component-instance", seen.data in (b"", b'{"n":2}'))

# A transaction: an upsert and a delete, all or nothing.
Op, Tx, Del = message("TransactionalStateOperation"), message("TransactionalStateRequest"), message("DeleteRequest")
current = state("Get", "GetRequest", "GetResponse", Get(key=key)).etag.value
k2 = key + "-tx"
tx = Tx(operations=[Op(set=Set(key=k2, value=b'{"n":10}')), Op(delete=Del(key=key, etag=Etag(value=current)))])
call("TransactionalStateStore", "Transact", "TransactionalStateRequest", "TransactionalStateResponse", tx)
check("Transact applied its delete", state("Get", "GetRequest", "GetResponse", Get(key=key)).data == b"")
check("Transact applied its upsert", state("Get", "GetRequest", "GetResponse", Get(key=k2)).data == b'{"n":10}')
stale = Tx(operations=[Op(set=Set(key=key, value=b'{"n":11}')), Op(delete=Del(key=k2, etag=Etag(value=current)))])
e = failure(lambda: call("TransactionalStateStore", "Transact", "TransactionalStateRequest",
                         "TransactionalStateResponse", stale))
check("Transact with a stale etag is FailedPrecondition with the etag violation",
      e.code() == grpc.StatusCode.FAILED_PRECONDITION and etag_violation(e), str(e))
check("the aborted transaction wrote nothing", state("Get", "GetRequest", "GetResponse", Get(key=key)).data == b"")

# Bulk calls, as daprd sends them.
BulkSet, BulkGet, BulkDel = message("BulkSetRequest"), message("BulkGetRequest"), message("BulkDeleteRequest")
keys = [f"{key}-b{i}" for i in range(3)]
state("BulkSet", "BulkSetRequest", "BulkSetResponse",
      BulkSet(items=[Set(key=k, value=json.dumps({"n": 20 + i}).encode(), content_type="application/json")
                     for i, k in enumerate(keys)]))
items = state("BulkGet", "BulkGetRequest", "BulkGetResponse", BulkGet(items=[Get(key=k) for k in keys])).items
check("BulkGet answers every key in order", [i.key for i in items] == keys, str(items))
check("BulkGet returns etags", all(i.etag.value for i in items))

# The query, with the filter as daprd writes it: the operand's JSON in Any.value.
Query, QueryRequest = message("Query"), message("QueryRequest")
q = Query()
q.filter["EQ"].value = json.dumps({"n": 21}).encode()
q.sort.add(key="n")
q.pagination.limit = 10
answer = call("QueriableStateStore", "Query", "QueryRequest", "QueryResponse", QueryRequest(query=q))
found = [i.key for i in answer.items]
check("Query finds the one document with n = 21", found == [keys[1]], str(found))

state("BulkDelete", "BulkDeleteRequest", "BulkDeleteResponse",
      BulkDel(items=[Del(key=k) for k in keys + [k2]]))
left = state("BulkGet", "BulkGetRequest", "BulkGetResponse", BulkGet(items=[Get(key=k) for k in keys])).items
check("BulkDelete removed every key", all(i.data == b"" for i in left))
state("Ping", "PingRequest", "PingResponse", message("PingRequest")())
print(f"grpcio client, {socket}: {len(checked)} checks passed")
