"""A local Pinecone: control plane and data plane over real HTTP, as the ``pinecone`` 10.2 SDK calls them.

Control plane (API version 2026-07): ``GET /indexes``, ``GET|DELETE /indexes/{name}``,
``POST /indexes/create-for-model``. Data plane, one per index at
``http://127.0.0.1:{port}/_data/{name}`` (the ``host`` that describe returns):
``POST /records/namespaces/{ns}/upsert`` (NDJSON), ``POST /vectors/delete``,
``GET /vectors/fetch``, ``GET /vectors/list``, ``POST /describe_index_stats``.

It enforces the limits the real service enforces on integrated-embedding upserts
(96 records, 2 MB body, 40 KB metadata per record) and checks the ``Api-Key`` header.
Faults are queued with :meth:`FakePinecone.fail_next`. Built on ``tests/fakes/wire.py``.

Standalone, for end-to-end tests in another process::

    python tests/fakes/pinecone_server.py --port 8765 --api-key KEY

prints ``READY <url>`` once listening. ``GET /_fake/records?index=&namespace=`` returns
what was stored, ``GET /_fake/requests?contains=FRAGMENT`` the requests served so far whose
``"METHOD path"`` contains ``FRAGMENT`` (as :class:`Received` without headers, e.g. the records
of each upsert) and ``POST /_fake/fail`` (JSON: status, headers, body, count, match)
queues a fault; all require the API key. ``--upsert-delay-ms N`` answers every upsert N ms late.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import secrets
import signal
import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

try:
    from tests.fakes.wire import Exchange, Fault, Reply, Request, WireServer
except ModuleNotFoundError:  # run as a script: python tests/fakes/pinecone_server.py
    from wire import Exchange, Fault, Reply, Request, WireServer  # type: ignore[no-redef]

__all__ = ["MAX_BATCH_RECORDS", "MAX_METADATA_BYTES", "MAX_REQUEST_BYTES", "FakePinecone", "Received"]

API_VERSION = "2026-07"
MAX_BATCH_RECORDS = 96
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
DELETE_MAX_IDS = 1000

MODELS: dict[str, dict[str, Any]] = {
    "llama-text-embed-v2": {"vector_type": "dense", "metric": "cosine", "dimension": 1024},
    "multilingual-e5-large": {"vector_type": "dense", "metric": "cosine", "dimension": 1024},
    "pinecone-sparse-english-v0": {"vector_type": "sparse", "metric": "dotproduct", "dimension": None},
}


@dataclasses.dataclass
class Received:
    """One request as the server saw it (after auth and fault handling)."""

    method: str
    path: str
    headers: dict[str, str]
    body_bytes: int
    status: int
    index: str | None = None
    namespace: str | None = None
    record_count: int = 0

    @classmethod
    def of(cls, e: Exchange) -> Received:
        received = cls(e.method, e.path, {k.lower(): v for k, v in e.headers.items()}, len(e.body), e.status)
        if e.fault is None and e.path.startswith("/_data/"):
            parts = e.path.split("/")
            received.index = unquote(parts[2])
            if "/records/namespaces/" in e.path:
                received.namespace = unquote(parts[5])
                received.record_count = sum(1 for line in e.body.split(b"\n") if line.strip())
        return received


@dataclasses.dataclass
class _Index:
    name: str
    model: str
    text_field: str
    metric: str
    cloud: str
    region: str
    read_parameters: dict[str, Any] | None
    write_parameters: dict[str, Any] | None
    tags: dict[str, str] | None
    describes_until_ready: int
    namespaces: dict[str, dict[str, dict[str, Any]]] = dataclasses.field(default_factory=dict)


def _error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}, "status": status})


class FakePinecone(WireServer):
    """In-memory Pinecone over HTTP on 127.0.0.1. Use as a context manager.

    ``ready_after`` is how many describes a newly created index answers with
    ``Initializing`` before it reports ``Ready``.
    """

    methods = ("GET", "POST", "DELETE", "PATCH")
    thread_name = "fake-pinecone"

    def __init__(self, *, api_key: str | None = None, port: int = 0, ready_after: int = 1) -> None:
        super().__init__("127.0.0.1", port)
        self.api_key = api_key or f"fake-{secrets.token_hex(12)}"
        self.ready_after = ready_after
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:  # type: ignore[override] - the API root, what a client's host is
        return self.root

    def data_host(self, index: str) -> str:
        return f"{self.url}/_data/{index}"

    @property
    def requests(self) -> list[Received]:
        """Every request as the server saw it."""
        return [Received.of(e) for e in self.log]

    # ------------------------------------------------------------------ test helpers

    def add_index(
        self,
        name: str,
        *,
        model: str = "llama-text-embed-v2",
        text_field: str = "text",
        metric: str | None = None,
        cloud: str = "aws",
        region: str = "us-east-1",
    ) -> None:
        """Create a ready index directly, as if it had existed before the test."""
        with self._lock:
            self._indexes[name] = self._new_index(
                name, model, text_field, metric, cloud, region, None, None, 0
            )

    def records(self, index: str, namespace: str) -> dict[str, dict[str, Any]]:
        """Copy of what is stored in one namespace, by record id."""
        with self._lock:
            return {k: dict(v) for k, v in self._indexes[index].namespaces.get(namespace, {}).items()}

    def index_names(self) -> list[str]:
        with self._lock:
            return sorted(self._indexes)

    def index_config(self, name: str) -> dict[str, Any]:
        with self._lock:
            idx = self._indexes[name]
            return {
                "model": idx.model,
                "text_field": idx.text_field,
                "cloud": idx.cloud,
                "region": idx.region,
            }

    def requests_to(self, fragment: str) -> list[Received]:
        """Requests whose ``"METHOD path"`` contains ``fragment`` (e.g. ``"/upsert"``)."""
        return [Received.of(e) for e in self.log.select(contains=fragment)]

    def fail_next(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        count: int = 1,
        match: str | None = None,
        disconnect: bool = False,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` instead of serving them.

        ``match`` is a substring of ``"METHOD path"``; ``body`` replaces the Pinecone error JSON
        (use it for malformed bodies, also with status 200); ``disconnect`` closes the
        connection without answering.
        """
        self.inject(
            Fault(
                status,
                headers=dict(headers or {}),
                body=body,
                disconnect="close" if disconnect else None,
                contains=match,
                times=count,
                kind="injected",
            )
        )

    # ------------------------------------------------------------------ request handling

    def respond(self, request: Request) -> Reply:
        if request.path.startswith("/_fake/"):  # the test controls never fail
            return self.handle(request)
        return super().respond(request)

    def error(self, status: int, request: Request) -> Reply:
        message = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        return Reply.json(status, {"error": {"code": "INJECTED", "message": message}, "status": status})

    def _new_index(
        self,
        name: str,
        model: str,
        text_field: str,
        metric: str | None,
        cloud: str,
        region: str,
        read_parameters: dict[str, Any] | None,
        write_parameters: dict[str, Any] | None,
        describes_until_ready: int,
        tags: dict[str, str] | None = None,
    ) -> _Index:
        if model not in MODELS:
            raise _error(400, "INVALID_ARGUMENT", f"Model '{model}' is not supported for integrated indexes")
        return _Index(
            name=name,
            model=model,
            text_field=text_field,
            metric=metric or MODELS[model]["metric"],
            cloud=cloud,
            region=region,
            read_parameters=read_parameters,
            write_parameters=write_parameters,
            tags=tags,
            describes_until_ready=describes_until_ready,
        )

    def _index_json(self, idx: _Index) -> dict[str, Any]:
        ready = idx.describes_until_ready <= 0
        field: dict[str, Any] = {"type": "semantic_text", "model": idx.model, "metric": idx.metric}
        if idx.read_parameters:
            field["read_parameters"] = idx.read_parameters
        if idx.write_parameters:
            field["write_parameters"] = idx.write_parameters
        return {
            "name": idx.name,
            "host": self.data_host(idx.name),
            "status": {"ready": ready, "state": "Ready" if ready else "Initializing"},
            "schema": {"fields": {idx.text_field: field}},
            "deployment": {"deployment_type": "managed", "cloud": idx.cloud, "region": idx.region},
            "deletion_protection": "disabled",
            "tags": idx.tags,
        }

    def _lookup(self, name: str) -> _Index:
        idx = self._indexes.get(name)
        if idx is None:
            raise _error(404, "NOT_FOUND", f"Resource {name} not found")
        return idx

    def handle(self, request: Request) -> Reply:
        method, path, body = request.method, request.path, request.body
        query = parse_qs(request.raw_query)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if path.startswith("/_fake/"):
            return self._handle_admin(method, path, query, headers, body)
        if headers.get("api-key") != self.api_key:
            return _error(401, "UNAUTHENTICATED", "Invalid API Key")
        with self._lock:
            if path.startswith("/_data/"):
                _, _, rest = path.partition("/_data/")
                index_name, _, data_path = rest.partition("/")
                return self._handle_data(method, index_name, "/" + data_path, query, body)
            return self._handle_control(method, path, body)

    def _handle_control(self, method: str, path: str, body: bytes) -> Reply:
        if method == "GET" and path == "/indexes":
            return Reply.json(200, {"indexes": [self._index_json(i) for i in self._indexes.values()]})
        if method == "POST" and path == "/indexes/create-for-model":
            return self._create_for_model(_json_object(body))
        if path.startswith("/indexes/") and path.count("/") == 2:
            name = unquote(path.rsplit("/", 1)[1])
            idx = self._lookup(name)
            if method == "GET":
                reply = Reply.json(200, self._index_json(idx))
                idx.describes_until_ready -= 1
                return reply
            if method == "DELETE":
                del self._indexes[name]
                return Reply.json(202, None)
        raise _error(404, "NOT_FOUND", f"No route for {method} {path}")

    def _create_for_model(self, req: dict[str, Any]) -> Reply:
        name, embed = req.get("name"), req.get("embed")
        if not isinstance(name, str) or not isinstance(embed, dict):
            raise _error(400, "INVALID_ARGUMENT", "name and embed are required")
        if not isinstance(req.get("cloud"), str) or not isinstance(req.get("region"), str):
            raise _error(400, "INVALID_ARGUMENT", "cloud and region are required")
        field_map = embed.get("field_map")
        if not isinstance(field_map, dict) or not isinstance(field_map.get("text"), str):
            raise _error(400, "INVALID_ARGUMENT", "embed.field_map.text is required")
        if name in self._indexes:
            raise _error(409, "ALREADY_EXISTS", f"Resource {name} already exists")
        idx = self._new_index(
            name,
            str(embed.get("model")),
            field_map["text"],
            embed.get("metric"),
            req["cloud"],
            req["region"],
            embed.get("read_parameters"),
            embed.get("write_parameters"),
            self.ready_after,
            req.get("tags"),
        )
        self._indexes[name] = idx
        return Reply.json(201, self._index_json(idx))

    def _handle_data(
        self, method: str, index_name: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> Reply:
        idx = self._lookup(unquote(index_name))
        if method == "POST" and path.startswith("/records/namespaces/") and path.endswith("/upsert"):
            namespace = unquote(path[len("/records/namespaces/") : -len("/upsert")])
            return self._upsert_records(idx, namespace, body)
        if method == "POST" and path == "/vectors/delete":
            return self._delete(idx, _json_object(body))
        if method == "GET" and path == "/vectors/fetch":
            ns = _namespace(query.get("namespace", [""])[0])
            stored = idx.namespaces.get(ns, {})
            vectors = {i: _as_vector(stored[i], idx) for i in query.get("ids", []) if i in stored}
            return Reply.json(200, {"vectors": vectors, "namespace": ns, "usage": {"readUnits": 1}})
        if method == "GET" and path == "/vectors/list":
            return self._list(idx, query)
        if method == "POST" and path == "/describe_index_stats":
            return self._stats(idx)
        raise _error(404, "NOT_FOUND", f"No route for {method} {path}")

    def _upsert_records(self, idx: _Index, namespace: str, body: bytes) -> Reply:
        if len(body) > MAX_REQUEST_BYTES:
            raise _error(
                413, "REQUEST_TOO_LARGE", f"Request size {len(body)} exceeds {MAX_REQUEST_BYTES} bytes"
            )
        lines = [line for line in body.split(b"\n") if line.strip()]
        if not lines:
            raise _error(400, "INVALID_ARGUMENT", "No records in request")
        if len(lines) > MAX_BATCH_RECORDS:
            raise _error(
                400, "INVALID_ARGUMENT", f"Batch size exceeds {MAX_BATCH_RECORDS}, the model's maximum"
            )
        parsed: list[dict[str, Any]] = []
        for n, line in enumerate(lines):
            try:
                record = json.loads(line)
            except ValueError:
                raise _error(400, "INVALID_ARGUMENT", f"Line {n} is not valid JSON") from None
            if not isinstance(record, dict):
                raise _error(400, "INVALID_ARGUMENT", f"Line {n} is not an object")
            rid = record.pop("_id", record.pop("id", None))
            if not isinstance(rid, str) or not rid:
                raise _error(400, "INVALID_ARGUMENT", f"Record {n} has no _id")
            if not isinstance(record.get(idx.text_field), str):
                raise _error(400, "INVALID_ARGUMENT", f"Record {rid} is missing field '{idx.text_field}'")
            # Integrated indexes store the text field as metadata too, so it counts.
            size = len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_METADATA_BYTES:
                raise _error(
                    400,
                    "INVALID_ARGUMENT",
                    f"Metadata size is {size} bytes, exceeds limit of {MAX_METADATA_BYTES}",
                )
            parsed.append({"_id": rid, **record})
        store = idx.namespaces.setdefault(namespace, {})
        for record in parsed:
            store[record["_id"]] = record
        return Reply.json(201, None, headers={"x-fake-record-count": str(len(parsed))})

    def _delete(self, idx: _Index, req: dict[str, Any]) -> Reply:
        ns = _namespace(req.get("namespace", ""))
        store = idx.namespaces.get(ns, {})
        if req.get("deleteAll"):
            store.clear()
            return Reply.json(200, {})
        ids = req.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _error(400, "INVALID_ARGUMENT", "ids must be a list of strings")
        if len(ids) > DELETE_MAX_IDS:
            raise _error(400, "INVALID_ARGUMENT", f"Cannot delete more than {DELETE_MAX_IDS} ids at once")
        for rid in ids:
            store.pop(rid, None)
        return Reply.json(200, {})

    def _list(self, idx: _Index, query: dict[str, list[str]]) -> Reply:
        ns = _namespace(query.get("namespace", [""])[0])
        prefix = query.get("prefix", [""])[0]
        limit = int(query.get("limit", ["100"])[0])
        start = int(query.get("paginationToken", ["0"])[0])
        ids = sorted(i for i in idx.namespaces.get(ns, {}) if i.startswith(prefix))
        page = ids[start : start + limit]
        payload: dict[str, Any] = {
            "vectors": [{"id": i} for i in page],
            "namespace": ns,
            "usage": {"readUnits": 1},
        }
        if start + limit < len(ids):
            payload["pagination"] = {"next": str(start + limit)}
        return Reply.json(200, payload)

    def _stats(self, idx: _Index) -> Reply:
        model = MODELS[idx.model]
        namespaces = {ns: {"vectorCount": len(recs)} for ns, recs in idx.namespaces.items() if recs}
        return Reply.json(
            200,
            {
                "namespaces": namespaces,
                "dimension": model["dimension"],
                "indexFullness": 0.0,
                "totalVectorCount": sum(v["vectorCount"] for v in namespaces.values()),
                "metric": idx.metric,
                "vectorType": model["vector_type"],
            },
        )

    def _handle_admin(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Reply:
        if headers.get("api-key") != self.api_key:
            return _error(401, "UNAUTHENTICATED", "Invalid API Key")
        if method == "GET" and path == "/_fake/records":
            index, namespace = query.get("index", [""])[0], query.get("namespace", [""])[0]
            with self._lock:
                self._lookup(index)
            return Reply.json(200, self.records(index, namespace))
        if method == "GET" and path == "/_fake/requests":
            fragment = query.get("contains", [""])[0]
            served = [r for r in self.requests_to(fragment) if not r.path.startswith("/_fake/")]
            return Reply.json(200, [{k: v for k, v in dataclasses.asdict(r).items() if k != "headers"} for r in served])
        if method == "POST" and path == "/_fake/fail":
            req = _json_object(body)
            self.fail_next(
                int(req["status"]),
                headers=req.get("headers"),
                body=req.get("body"),
                count=int(req.get("count", 1)),
                match=req.get("match"),
            )
            return Reply.json(200, {})
        raise _error(404, "NOT_FOUND", f"No route for {method} {path}")


def _namespace(value: str) -> str:
    return value or "__default__"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise _error(400, "INVALID_ARGUMENT", "Body is not valid JSON") from None
    if not isinstance(value, dict):
        raise _error(400, "INVALID_ARGUMENT", "Body must be a JSON object")
    return value


def _as_vector(record: dict[str, Any], idx: _Index) -> dict[str, Any]:
    """The stored record as fetch returns it, with a stand-in embedding derived from its text."""
    metadata = {k: v for k, v in record.items() if k not in ("_id", idx.text_field)}
    digest = hashlib.sha256(record[idx.text_field].encode()).digest()
    vector: dict[str, Any] = {"id": record["_id"], "metadata": metadata}
    dimension = MODELS[idx.model]["dimension"]
    if dimension is None:
        indices = sorted({int.from_bytes(digest[i : i + 4], "big") for i in range(0, 32, 4)})
        vector["sparseValues"] = {"indices": indices, "values": [1.0] * len(indices)}
    else:
        vector["values"] = [(digest[i % 32] - 128) / 128 for i in range(dimension)]
    return vector


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--ready-after", type=int, default=0)
    parser.add_argument(
        "--upsert-delay-ms", type=float, default=0.0, help="wait this long before answering each upsert"
    )
    args = parser.parse_args(argv)
    fake = FakePinecone(api_key=args.api_key, port=args.port, ready_after=args.ready_after)
    if args.upsert_delay_ms > 0:
        fake.inject(Fault(delay=args.upsert_delay_ms / 1000, method="POST", contains="/upsert", times=10**12))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with fake:
        print(f"READY {fake.url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
