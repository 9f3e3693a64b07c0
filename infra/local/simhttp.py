"""HTTP plumbing shared by the local simulators (LTI Pro, Zoom): a quiet threaded server on
127.0.0.1, keep-alive HTTP/1.1 with exact Content-Length, strict body reading (chunked too),
answers written in one piece, and connections tracked so a simulator can stop without hanging.
Each simulator subclasses :class:`SimHandler`, says how its errors look and routes ``_dispatch``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_DIGITS = re.compile(r"[0-9]+\Z")


class Reject(Exception):
    """Answer ``status`` with ``body`` (and ``headers``) instead of going on."""

    def __init__(self, status: int, body: Any, headers: dict | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, sim) -> None:
        self.sim = sim  # has _register_connection(conn) -> id and _unregister_connection(conn)
        super().__init__(addr, handler)

    def handle_error(self, request, client_address) -> None:  # pragma: no cover - keep quiet
        pass


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Sim/1.0"
    content_type = "application/json"
    max_body = 1024 * 1024
    reasons: dict[int, str] = {}
    server: SimServer

    def error_body(self, status: int, message: str) -> Any:  # pragma: no cover - each simulator has its own
        raise NotImplementedError

    def _dispatch(self) -> None:  # pragma: no cover - each simulator routes its own
        raise NotImplementedError

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self._conn_id = self.server.sim._register_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.sim._unregister_connection(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _reject(self, status: int, message: str) -> Reject:
        return Reject(status, self.error_body(status, message))

    def _read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise self._reject(501, "Unsupported Transfer-Encoding")
            return self._read_chunked()
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        if len(set(v.strip() for v in lengths)) != 1 or not _DIGITS.match(lengths[0].strip()):
            raise self._reject(400, "Invalid Content-Length")
        n = int(lengths[0].strip())
        if n > self.max_body:
            raise self._reject(413, "Request body too large")
        data = self.rfile.read(n)
        if len(data) != n:
            raise self._reject(400, "Incomplete request body")
        return data

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise self._reject(400, "Incomplete chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise self._reject(400, "Invalid chunk size") from None
            if size == 0:
                while True:  # trailers
                    trailer = self.rfile.readline(65537)
                    if trailer in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts)
            total += size
            if total > self.max_body:
                raise self._reject(413, "Request body too large")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise self._reject(400, "Incomplete chunked body")
            parts.append(chunk)
            self.rfile.readline(3)  # CRLF after the chunk

    def _send(self, status: int, body: Any, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status, self.reasons.get(status))
            self.send_header("Content-Type", self.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(payload)
            self.flush_headers()  # headers and body in one write
        except OSError:
            self.close_connection = True  # the client went away (e.g. it timed out during a delay fault)

    def _drop(self) -> None:
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class SimulatorBase:
    """Start/stop on 127.0.0.1 in a daemon thread, and the connections a stop must close.

    Subclasses call :meth:`_init_server` from ``__init__`` and set ``handler_class``,
    ``thread_name`` and ``base_path`` (appended to ``http://host:port`` in ``base_url``).
    """

    handler_class: type[SimHandler]
    thread_name = "sim"
    base_path = ""

    def _init_server(self, host: str, port: int) -> None:
        self.host, self.port, self.base_url = host, port, ""
        self._lock = threading.RLock()
        self._stopping = threading.Event()  # set on stop: wakes delay faults and latency waits
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[int, socket.socket] = {}
        self._conn_seq = 0

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        self._server = SimServer((self.host, self.port), self.handler_class, self)
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}{self.base_path}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._connections.values())
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_until_signalled(self) -> None:
        """Run as a program: start, print the base URL (for whoever launched it), serve until SIGTERM/SIGINT."""
        import signal

        done = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: done.set())
        self.start()
        print(self.base_url, flush=True)
        try:
            while not done.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _register_connection(self, conn: socket.socket) -> int:
        with self._lock:
            self._conn_seq += 1
            self._connections[self._conn_seq] = conn
            return self._conn_seq

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._lock:
            for cid, c in list(self._connections.items()):
                if c is conn:
                    del self._connections[cid]


class FaultBase:
    """What every simulator's scripted ``Fault`` dataclass shares: built from JSON, checked strictly.

    Subclasses are dataclasses with at least ``status``, ``retry_after``, ``delay`` and ``drop``;
    their own ``validate`` calls this one and checks their extra fields.
    """

    @classmethod
    def from_dict(cls, data: Any):
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(map(repr, unknown))}")
        fault = cls(**data)
        fault.validate()
        return fault

    def validate(self) -> None:
        status = self.status
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
            raise ValueError("fault 'status' must be an integer HTTP status or null")
        if self.retry_after is not None and not isinstance(self.retry_after, str):
            raise ValueError("fault 'retry_after' must be a string or null")
        if isinstance(self.delay, bool) or not isinstance(self.delay, (int, float)) or self.delay < 0:
            raise ValueError("fault 'delay' must be a non-negative number")
        if not isinstance(self.drop, bool):
            raise ValueError("fault 'drop' must be a boolean")
