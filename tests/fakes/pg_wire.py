"""A tiny PostgreSQL server speaking the real wire protocol (v3), for faults the shared test
server cannot be made to produce: a refused password (it trusts everyone), a full disk, an
out-of-memory error. Also a "black hole" that accepts connections and never answers.

``PgWireServer(startup_error=(sqlstate, message))`` answers the startup packet with a FATAL
ErrorResponse; ``PgWireServer(query_error=(sqlstate, message))`` completes the handshake and
answers every query except BEGIN/COMMIT/ROLLBACK with that ERROR. ``BlackHoleServer``
accepts connections and reads nothing. The client is the real libpq, through psycopg2.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Self

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_PROTOCOL_3 = 196608


def _message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def _error(severity: str, sqlstate: str, text: str) -> bytes:
    fields = b"".join(
        code + value.encode() + b"\0"
        for code, value in ((b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", text))
    )
    return _message(b"E", fields + b"\0")


def _ready(status: bytes) -> bytes:
    return _message(b"Z", status)


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


class _Listener:
    def __init__(self, name: str) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def url(self, database: str = "db", user: str = "collector") -> str:
        return f"postgresql+psycopg2://{user}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def _accept_loop(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._connections.append(conn)
            threading.Thread(target=self._serve_safely, args=(conn,), daemon=True).start()

    def _serve_safely(self, conn: socket.socket) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            self.serve(conn)

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._connections:
            conn.close()
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BlackHoleServer(_Listener):
    """Accepts every connection and never sends a byte (until stopped)."""

    def __init__(self) -> None:
        super().__init__("pg-black-hole")

    def serve(self, conn: socket.socket) -> None:
        self._stop.wait()


class PgWireServer(_Listener):
    def __init__(
        self,
        *,
        startup_error: tuple[str, str] | None = None,
        query_error: tuple[str, str] | None = None,
    ) -> None:
        super().__init__("pg-wire-fake")
        self.startup_error = startup_error
        self.query_error = query_error

    def serve(self, conn: socket.socket) -> None:
        while True:  # SSL / GSS encryption requests come first: refuse them
            (length,) = struct.unpack("!I", _recv_exact(conn, 4))
            body = _recv_exact(conn, length - 4)
            (code,) = struct.unpack("!I", body[:4])
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                conn.sendall(b"N")
                continue
            if code != _PROTOCOL_3:
                return
            break
        if self.startup_error is not None:
            conn.sendall(_error("FATAL", *self.startup_error))
            return
        params = {
            "server_version": "15.0",
            "server_encoding": "UTF8",
            "client_encoding": "UTF8",
            "DateStyle": "ISO, MDY",
            "integer_datetimes": "on",
            "standard_conforming_strings": "on",
            "TimeZone": "UTC",
        }
        handshake = _message(b"R", struct.pack("!I", 0))
        handshake += b"".join(_message(b"S", f"{k}\0{v}\0".encode()) for k, v in params.items())
        handshake += _message(b"K", struct.pack("!II", 4242, 1)) + _ready(b"I")
        conn.sendall(handshake)
        in_transaction = False
        while True:
            kind = _recv_exact(conn, 1)
            (length,) = struct.unpack("!I", _recv_exact(conn, 4))
            body = _recv_exact(conn, length - 4)
            if kind == b"X":
                return
            if kind != b"Q":
                conn.sendall(
                    _error("ERROR", "0A000", "only the simple query protocol is faked") + _ready(b"I")
                )
                continue
            sql = body.rstrip(b"\0").decode().strip().upper()
            if sql.startswith("BEGIN"):
                in_transaction = True
                conn.sendall(_message(b"C", b"BEGIN\0") + _ready(b"T"))
            elif sql.startswith(("COMMIT", "ROLLBACK")):
                in_transaction = False
                conn.sendall(_message(b"C", sql.split()[0].encode() + b"\0") + _ready(b"I"))
            elif self.query_error is not None:
                conn.sendall(_error("ERROR", *self.query_error) + _ready(b"E" if in_transaction else b"I"))
            else:
                conn.sendall(_message(b"I") + _ready(b"T" if in_transaction else b"I"))
