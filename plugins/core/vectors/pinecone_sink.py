"""Vector sink on Pinecone integrated-embedding indexes (dense, optionally a sparse twin for hybrid)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import tenacity
from pinecone import Pinecone, RetryConfig
from pinecone._internal.constants import DATA_PLANE_API_VERSION
from pinecone._internal.http_client import HTTPClient
from pinecone.errors.exceptions import (
    ApiError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    PineconeTypeError,
    PineconeValueError,
    ResponseParsingError,
    ServiceError,
    UnauthorizedError,
)
from pinecone.errors.exceptions import RateLimitError as PineconeRateLimitError
from pinecone.index import Index
from pinecone.models.indexes.index import IndexModel
from pinecone.models.indexes.schema import SemanticTextField

from core.errors import (
    AuthenticationError,
    CollectorError,
    ConfigError,
    DataValidationError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    SourceTimeoutError,
    sanitize_text,
)
from core.vectors.documents import VectorRecord

__all__ = ["PineconeSink", "PineconeSinkConfig", "pinecone_config_from_connection"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Service limits for integrated-embedding upserts and deletes.
MAX_BATCH_RECORDS = 96
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_DELETE_IDS = 1000
MAX_ID_LENGTH = 512


@dataclasses.dataclass(frozen=True)
class PineconeSinkConfig:
    """Where and how records are written. ``api_key`` never appears in ``repr``.

    ``host`` overrides the control-plane URL (a gateway, or a local fake); each index's
    data-plane host comes from describing it. ``namespace`` is the collector's namespace,
    passed by the sync step to ``upsert``/``delete`` (``None``: the source name).
    Retries: ``max_attempts`` tries per request, exponential backoff with jitter from
    ``backoff_initial`` up to ``backoff_max`` seconds; a 429 waits what its
    ``Retry-After`` says, unless that is longer than ``max_retry_after``, in which case the
    batch fails at once with a ``rate_limit`` error carrying the announced time.
    """

    api_key: str = dataclasses.field(repr=False)
    index: str
    model: str = "llama-text-embed-v2"
    text_field: str = "text"
    sparse_index: str | None = None
    sparse_model: str = "pinecone-sparse-english-v0"
    cloud: str = "aws"
    region: str = "us-east-1"
    host: str | None = None
    namespace: str | None = None
    max_batch_records: int = MAX_BATCH_RECORDS
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_metadata_bytes: int = MAX_METADATA_BYTES
    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 60.0
    request_timeout: float = 30.0
    ready_timeout: float = 300.0
    ready_poll_interval: float = 5.0

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ConfigError("Pinecone API key is empty (connection pinecone_default, field password)")
        for name in ("index", "model", "text_field", "cloud", "region"):
            if not getattr(self, name):
                raise ConfigError(f"Pinecone sink: {name} must not be empty")
        if self.sparse_index is not None and self.sparse_index == self.index:
            raise ConfigError("Pinecone sink: sparse_index must differ from index")
        if not 1 <= self.max_batch_records <= MAX_BATCH_RECORDS:
            raise ConfigError(f"Pinecone sink: max_batch_records must be within 1..{MAX_BATCH_RECORDS}")
        if not 1 <= self.max_request_bytes <= MAX_REQUEST_BYTES:
            raise ConfigError(f"Pinecone sink: max_request_bytes must be within 1..{MAX_REQUEST_BYTES}")
        if not 1 <= self.max_metadata_bytes <= MAX_METADATA_BYTES:
            raise ConfigError(f"Pinecone sink: max_metadata_bytes must be within 1..{MAX_METADATA_BYTES}")
        if self.max_attempts < 1:
            raise ConfigError("Pinecone sink: max_attempts must be at least 1")

    def targets(self) -> list[tuple[str, str]]:
        """``(index, model)`` pairs every record is written to."""
        pairs = [(self.index, self.model)]
        if self.sparse_index:
            pairs.append((self.sparse_index, self.sparse_model))
        return pairs


_CONNECTION_EXTRA_KEYS = {
    "index": "index",
    "sparse_index": "sparse_index",
    "model": "model",
    "sparse_model": "sparse_model",
    "text_field": "text_field",
    "cloud": "cloud",
    "region": "region",
    "namespace": "namespace",
}


def pinecone_config_from_connection(
    login: str | None,
    password: str | None,
    host: str | None,
    extra: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
) -> PineconeSinkConfig:
    """Build the config from a ``pinecone`` connection, with the provider's field layout.

    As in ``PineconeHook``: ``password`` is the API key, ``host`` the control-plane host,
    ``login`` the legacy pod environment (unused by serverless indexes, ignored here),
    ``extra["region"]`` the region. This project also reads ``cloud``, ``index``,
    ``sparse_index``, ``model``, ``sparse_model``, ``text_field`` and ``namespace`` from the
    extras. ``overrides`` (a collector's ``vectors:`` section) win over the connection;
    ``None`` values are skipped.
    """
    del login
    if not password:
        raise ConfigError("Pinecone connection has no API key (expected in its password field)")
    values: dict[str, Any] = {"api_key": password, "host": host or None}
    for key, field in _CONNECTION_EXTRA_KEYS.items():
        if (extra or {}).get(key) not in (None, ""):
            values[field] = (extra or {})[key]
    known = {f.name for f in dataclasses.fields(PineconeSinkConfig)} - {"api_key"}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"Unknown Pinecone sink setting {key!r}; known: {', '.join(sorted(known))}")
        if value is not None:
            values[key] = value
    if not values.get("index"):
        raise ConfigError(
            "Pinecone sink needs an index name (vectors.index, or extra 'index' on the connection)"
        )
    try:
        return PineconeSinkConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"Invalid Pinecone sink setting: {exc}") from None


class PineconeSink:
    """:class:`~core.vectors.sink.VectorSink` over the ``pinecone`` SDK's integrated-embedding API.

    Every record goes to the dense index and, when configured, the sparse one. Retries are
    this class's job alone: the SDK's own are switched off so attempts stay bounded and
    predictable.
    """

    name = "pinecone"

    def __init__(self, config: PineconeSinkConfig) -> None:
        self.config = config
        try:
            self._client = Pinecone(
                api_key=config.api_key,
                host=config.host or None,
                source_tag="apache_airflow",
                timeout=config.request_timeout,
                retry_config=RetryConfig(max_retries=0),
            )
        except PineconeError as exc:
            raise ConfigError(f"Pinecone client: {self._safe(exc)}") from None
        self._indexes: dict[str, Index] = {}
        self._hosts: dict[str, str] = {}  # index name -> data-plane host, from ensure_ready
        self._errors: list[BaseException] = []
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=config.backoff_initial, max=config.backoff_max, jitter=config.backoff_initial
        )

    # ------------------------------------------------------------------ VectorSink

    @property
    def destination(self) -> str:
        return f"pinecone:{self.config.index}"

    @property
    def last_errors(self) -> Sequence[BaseException]:
        return tuple(self._errors)

    def ensure_ready(self, namespaces: Sequence[str]) -> None:
        """Describe each index, create it when missing, and check it matches the config. The
        data-plane client of an index is opened by its first write, not here: building one
        loads the CA bundle twice (~60 ms), which a preflight or a sync with nothing to send
        does not need."""
        for namespace in namespaces:
            if not namespace or not namespace.strip():
                raise ConfigError("Pinecone namespace must be a non-empty string")
        for index_name, model in self.config.targets():
            try:
                description = self._describe_or_create(index_name, model)
            except PineconeError as exc:
                raise self._translate(exc, f"preparing index {index_name}") from None
            self._check_embedding(description, model)
            if description.host is not None:
                self._hosts[index_name] = description.host

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> list[str]:
        self._errors = []
        if not records:
            return []
        payloads, failed = self._prepare(records)
        for index_name, _model in self.config.targets():
            index = self._index(index_name)
            for batch in self._batches(payloads):
                ids = [p["_id"] for p in batch]
                if not self._attempt(
                    lambda b=batch, i=index: i.upsert_records(namespace=namespace, records=b),
                    f"upsert of {len(batch)} records to {index_name}/{namespace}",
                ):
                    failed.extend(ids)
        failed = list(dict.fromkeys(failed))
        log.info(
            "Pinecone upsert to namespace %s: %d records, %d failed", namespace, len(records), len(failed)
        )
        return failed

    def delete(self, namespace: str, ids: Sequence[str]) -> list[str]:
        self._errors = []
        failed: list[str] = []
        for index_name, _model in self.config.targets():
            index = self._index(index_name)
            for start in range(0, len(ids), MAX_DELETE_IDS):
                chunk = list(ids[start : start + MAX_DELETE_IDS])
                if not self._attempt(
                    lambda c=chunk, i=index: i.delete(ids=c, namespace=namespace),
                    f"delete of {len(chunk)} ids from {index_name}/{namespace}",
                    missing_ok=True,
                ):
                    failed.extend(chunk)
        return list(dict.fromkeys(failed))

    def clear(self, namespace: str) -> None:
        """Delete every record of ``namespace`` in each index: the start of a re-sync from scratch."""
        self._errors = []
        for index_name, _model in self.config.targets():
            index = self._index(index_name)
            what = f"clearing namespace {index_name}/{namespace}"
            if not self._attempt(
                lambda i=index: i.delete(delete_all=True, namespace=namespace), what, missing_ok=True
            ):
                raise self._errors[-1]

    def close(self) -> None:
        for index in self._indexes.values():
            index.close()
        self._indexes.clear()
        self._client.close()

    def __enter__(self) -> PineconeSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ control plane

    def _describe_or_create(self, index_name: str, model: str) -> IndexModel:
        try:
            description = self._retrying(lambda: self._client.indexes.describe(index_name))
        except NotFoundError:
            log.info("Pinecone index %s does not exist; creating it for model %s", index_name, model)
            try:
                description = self._retrying(
                    lambda: self._client.indexes.create_for_model(
                        name=index_name,
                        cloud=self.config.cloud,
                        region=self.config.region,
                        embed={"model": model, "field_map": {"text": self.config.text_field}},
                        timeout=-1,
                    )
                )
            except ConflictError:
                description = self._retrying(lambda: self._client.indexes.describe(index_name))
        return self._wait_until_ready(description)

    def _wait_until_ready(self, description: IndexModel) -> IndexModel:
        deadline = time.monotonic() + self.config.ready_timeout
        while not description.status.ready:
            state = description.status.state
            if state in ("InitializationFailed", "Terminating", "Disabled"):
                raise ConfigError(f"Pinecone index {description.name} is {state}")
            if time.monotonic() >= deadline:
                raise SourceTimeoutError(
                    f"Pinecone index {description.name} not ready after {self.config.ready_timeout:g}s "
                    f"(state {state})"
                )
            time.sleep(self.config.ready_poll_interval)
            description = self._retrying(lambda n=description.name: self._client.indexes.describe(n))
        return description

    def _check_embedding(self, description: IndexModel, model: str) -> None:
        fields = description.schema.fields
        semantic = {name: f for name, f in fields.items() if isinstance(f, SemanticTextField)}
        if not semantic:
            raise ConfigError(
                f"Pinecone index {description.name} has no integrated embedding; field_map: "
                f"config expects text field {self.config.text_field!r} embedded by {model!r}"
            )
        field = semantic.get(self.config.text_field)
        if field is None:
            raise ConfigError(
                f"Pinecone index {description.name} field_map mismatch: index embeds "
                f"{sorted(semantic)!r}, config text_field is {self.config.text_field!r}"
            )
        if field.model != model:
            raise ConfigError(
                f"Pinecone index {description.name} model mismatch: index embeds with "
                f"{field.model!r}, config says {model!r}"
            )

    def _open(self, host: str) -> Index:
        index = self._client.index(host=host)
        # The SDK's REST data plane retries 429/5xx by itself, behind a retry budget shared
        # per host across the process, and has no setting for it; turn it off so the
        # attempts made are the ones this sink counts.
        config = dataclasses.replace(index._config, retry_config=RetryConfig(max_retries=0))
        previous, index._http = index._http, HTTPClient(config, DATA_PLANE_API_VERSION)
        previous.close()
        return index

    def _index(self, index_name: str) -> Index:
        index = self._indexes.get(index_name)
        if index is None:
            if index_name not in self._hosts:
                self.ensure_ready([])
            index = self._indexes[index_name] = self._open(self._hosts[index_name])
        return index

    # ------------------------------------------------------------------ records and batches

    def _prepare(self, records: Sequence[VectorRecord]) -> tuple[list[dict[str, Any]], list[str]]:
        """Payloads that can be sent, and the ids of records that never can (kept in last_errors)."""
        payloads: list[dict[str, Any]] = []
        failed: list[str] = []
        for record in records:
            try:
                payload = record.as_payload(self.config.text_field)
                _check_record(payload, self.config.text_field)
                payload = _trim_metadata(payload, self.config.text_field, self.config.max_metadata_bytes)
                if len(_encoded(payload)) > self.config.max_request_bytes:
                    raise DataValidationError(
                        "record is larger than one request may be", source="pinecone", location=record.id
                    )
            except DataValidationError as exc:
                self._errors.append(exc)
                failed.append(record.id)
                continue
            payloads.append(payload)
        return payloads, failed

    def _batches(self, payloads: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Consecutive batches within the record-count and request-size limits."""
        batch: list[dict[str, Any]] = []
        size = 0
        for payload in payloads:
            line = len(_encoded(payload)) + 1
            if batch and (
                len(batch) >= self.config.max_batch_records or size + line > self.config.max_request_bytes
            ):
                yield batch
                batch, size = [], 0
            batch.append(payload)
            size += line
        if batch:
            yield batch

    # ------------------------------------------------------------------ retries and errors

    def _attempt(self, call: Callable[[], object], what: str, *, missing_ok: bool = False) -> bool:
        """Run one request with retries; False (error kept) when it finally failed.

        Auth, permission and missing-index failures raise: no later batch can succeed.
        ``missing_ok`` takes a 404 as done (deleting from a namespace that is already gone).
        """
        try:
            self._retrying(call)
        except NotFoundError:
            if missing_ok:
                return True
            raise self._translate_missing(what) from None
        except PineconeError as exc:
            error = self._translate(exc, what)
            if isinstance(error, (AuthenticationError, PermissionDeniedError)):
                raise error from None
            log.warning("%s", error)
            self._errors.append(error)
            return False
        return True

    def _retrying(self, call: Callable[[], T]) -> T:
        retryer = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.config.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(self._is_transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retryer(call)

    def _is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, PineconeRateLimitError):
            delay = _retry_after(exc)
            return delay is None or delay <= self.config.max_retry_after
        return isinstance(exc, (ServiceError, PineconeConnectionError, PineconeTimeoutError))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, PineconeRateLimitError):
            delay = _retry_after(exc)
            if delay is not None:
                return delay
        return self._backoff(state)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Pinecone request failed (attempt %d of %d), retrying in %.2fs: %s",
            state.attempt_number,
            self.config.max_attempts,
            delay,
            self._safe(exc) if exc else "",
        )

    def _safe(self, exc: BaseException) -> str:
        return sanitize_text(f"{type(exc).__name__}: {exc}", [self.config.api_key])

    def _translate_missing(self, what: str) -> ConfigError:
        indexes = ", ".join(name for name, _ in self.config.targets())
        return ConfigError(f"Pinecone {what} failed: index not found ({indexes}); ensure_ready creates it")

    def _translate(self, exc: PineconeError, what: str) -> CollectorError:
        """The project's typed error for an SDK failure; the message is sanitized, the raw error dropped."""
        message = f"Pinecone {what} failed: {self._safe(exc)}"
        if isinstance(exc, UnauthorizedError):
            return AuthenticationError(message)
        if isinstance(exc, ForbiddenError):
            return PermissionDeniedError(message)
        if isinstance(exc, NotFoundError):
            return ConfigError(message)
        if isinstance(exc, PineconeRateLimitError):
            delay = _retry_after(exc)
            retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay) if delay is not None else None
            return RateLimitError(message, retry_at=retry_at)
        if isinstance(exc, (ServiceError, PineconeConnectionError)):
            return NetworkError(message)
        if isinstance(exc, PineconeTimeoutError):
            return SourceTimeoutError(message)
        if isinstance(exc, (ApiError, PineconeValueError, PineconeTypeError, ResponseParsingError)):
            return DataValidationError(message, source="pinecone")
        return CollectorError(message)


# ---------------------------------------------------------------------- helpers


def _encoded(payload: Mapping[str, Any]) -> bytes:
    """The record exactly as the SDK puts it on the wire (one NDJSON line, without the newline)."""
    return orjson.dumps(payload)


def _retry_after(exc: PineconeRateLimitError) -> float | None:
    if exc.retry_after is not None:
        return exc.retry_after
    raw = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("retry-after")
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _check_record(payload: Mapping[str, Any], text_field: str) -> None:
    record_id = payload["_id"]
    if not record_id or len(record_id) > MAX_ID_LENGTH or not record_id.isascii():
        raise DataValidationError(
            f"record id must be 1..{MAX_ID_LENGTH} ASCII characters", source="pinecone", location=record_id
        )
    for key, value in payload.items():
        if key == "_id":
            continue
        ok = isinstance(value, (str, int, float, bool)) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise DataValidationError(
                "metadata values must be strings, numbers, booleans or lists of strings",
                source="pinecone",
                location=f"{record_id}.{key}",
            )
    if not isinstance(payload.get(text_field), str):
        raise DataValidationError(
            "text must be a string", source="pinecone", location=f"{record_id}.{text_field}"
        )


def _metadata_size(payload: Mapping[str, Any]) -> int:
    return len(orjson.dumps({k: v for k, v in payload.items() if k != "_id"}))


def _trim_metadata(payload: dict[str, Any], text_field: str, limit: int) -> dict[str, Any]:
    """Shrink the largest metadata fields until the record's metadata (text included) fits ``limit``.

    Strings are cut at a UTF-8 boundary, lists lose trailing items, other values are dropped.
    The text field itself is never cut: a record whose text alone is too big is invalid.
    """
    size = _metadata_size(payload)
    if size <= limit:
        return payload
    record_id = payload["_id"]
    trimmed = dict(payload)
    touched: list[str] = []
    while size > limit:
        candidates = sorted(
            (k for k in trimmed if k not in ("_id", text_field)),
            key=lambda k: (-len(orjson.dumps(trimmed[k])), k),
        )
        if not candidates:
            raise DataValidationError(
                f"text alone exceeds the {limit}-byte metadata limit", source="pinecone", location=record_id
            )
        key = candidates[0]
        value = trimmed[key]
        excess = size - limit
        if isinstance(value, str) and len(value.encode()) > excess:
            trimmed[key] = _cut_utf8(value, len(value.encode()) - excess)
        elif isinstance(value, list) and len(value) > 1:
            trimmed[key] = value[: len(value) // 2]
        else:
            del trimmed[key]
        if key not in touched:
            touched.append(key)
        size = _metadata_size(trimmed)
    log.warning(
        "Pinecone record %s: metadata over %d bytes, trimmed field(s) %s",
        record_id,
        limit,
        ", ".join(touched),
    )
    return trimmed


def _cut_utf8(value: str, max_bytes: int) -> str:
    return value.encode()[: max(0, max_bytes)].decode(errors="ignore")
