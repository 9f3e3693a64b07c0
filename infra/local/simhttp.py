"""HTTP plumbing shared by the local simulators (LTI Pro, Zoom, ...): a quiet threaded server on
127.0.0.1, keep-alive HTTP/1.1 with exact Content-Length, strict body reading (chunked too),
answers written in one piece, connections tracked so a simulator can stop without hanging, a
scripted-fault queue and the ``/__sim/...`` control endpoints.

How a simulator plugs in (see lti_sim.py for the smallest complete example)::

    @dataclass
    class Fault(FaultBase):                 # at least status, retry_after, delay, drop
        status: int | None = None
        retry_after: str | None = None
        delay: float = 0.0
        drop: bool = False

    class _Handler(SimHandler):
        def error_body(self, status, message):      # how this service words an error
            return {"error": message}
        def _dispatch(self):
            body = self._read_body()                 # raises Reject on a bad body
            path = urlsplit(self.path).path
            if path.startswith(SIM_PREFIX):
                return self._control(path, body)     # the shared control routes
            fault = self.server.sim._next_fault()    # None, or the next scripted Fault
            ...                                      # route, answer with self._send(status, body, headers)

    class MySim(SimulatorBase):
        handler_class, fault_class, thread_name, base_path = _Handler, Fault, "my-sim", "/api"
        def __init__(self, host="127.0.0.1", port=0):
            self._init_server(host, port)            # lock, connections, fault queue
        def _state(self) -> dict:                    # what GET /__sim/state answers
            return {"faults_pending": self._pending_faults()}
        def reset(self) -> None:                     # POST /__sim/reset (call super: clears faults)
            super().reset()

Fault queue (on :class:`SimulatorBase`): ``add_faults(*faults)`` appends instances of the simulator's
``fault_class`` (validated); ``_next_fault(**match)`` pops the first pending fault whose fields equal
``match`` (``_next_fault()``: the first; Zoom uses ``_next_fault(oauth=True)``); ``_pending_faults()``
counts them.  Applying a fault (delay, drop, status, body) stays with each simulator.

Control routes (served by :meth:`SimHandler._control` from ``sim._control_routes()``)::

    GET  /__sim/state    -> 200 sim._state()
    POST /__sim/reset    -> 200 {"status": true}                      (sim.reset())
    POST /__sim/faults   <- JSON list of fault field dicts (appended)  -> {"status": true, "faults_pending": n}

Unknown names answer 404, a wrong method 405 with ``Allow``, a bad body 400 (error bodies from the
handler's ``error_body``).  A simulator adds its own routes by extending ``_control_routes()``: a dict
``name -> (method, fn)`` where ``fn(body: bytes) -> (status, payload)`` may raise ``ValueError`` (400)
or :class:`ControlError` (any status); :func:`control_json` parses a control body strictly.

Also shared: ``REASONS``/``reason(status)`` (http.HTTPStatus phrases, the status lines' reasons), ``Reject``
(raise it to answer early), ``_send`` (a 204/304 goes out without body or Content-Length).  The recipe
above runs as ``test_simhttp_plug_in_recipe`` in tests/e2e/test_lti_sim.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "SIM_PREFIX",
    "REASONS",
    "reason",
    "control_json",
    "ControlError",
    "Reject",
    "SimServer",
    "SimHandler",
    "SimulatorBase",
    "FaultBase",
]

_DIGITS = re.compile(r"[0-9]+\Z")
SIM_PREFIX = "/__sim/"
REASONS: dict[int, str] = {s.value: s.phrase for s in HTTPStatus}  # the status line's reason phrases


def reason(status: int, default: str = "Error") -> str:
    """The standard reason phrase of ``status`` (``default`` for a code http.HTTPStatus does not know)."""
    return REASONS.get(status, default)


class ControlError(Exception):
    """Raised by a control route: answer ``status`` with the handler's error body for ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate field {k!r}")
        out[k] = v
    return out


def control_json(body: bytes) -> Any:
    """A control request's JSON body (None when empty); duplicate keys refused; ValueError when malformed."""
    try:
        return json.loads(body.decode("utf-8") or "null", object_pairs_hook=_unique_keys)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"Malformed JSON: {exc}") from None


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
    reasons: dict[int, str] = REASONS
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
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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

    def _control(self, path: str, body: bytes) -> None:
        """Serve ``/__sim/<name>`` from ``sim._control_routes()`` (see the module docstring)."""
        route = self.server.sim._control_routes().get(path[len(SIM_PREFIX) :])
        if route is None:
            self._send(404, self.error_body(404, "Not Found"))
            return
        method, fn = route
        if self.command != method:
            self._send(405, self.error_body(405, "Method Not Allowed"), {"Allow": method})
            return
        try:
            status, out = fn(body)
        except ControlError as exc:
            status, out = exc.status, self.error_body(exc.status, exc.message)
        except ValueError as exc:
            status, out = 400, self.error_body(400, str(exc))
        self._send(status, out)

    def _read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise self._reject(501, "Unsupported Transfer-Encoding")
            return self._read_chunked()
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        if len({v.strip() for v in lengths}) != 1 or not _DIGITS.match(lengths[0].strip()):
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
        """Answer in one write: JSON ``body`` with its exact length; a 204/304 carries no body (nor length)."""
        bodiless = status in (204, 304)
        payload = b"" if bodiless else json.dumps(body).encode("utf-8")
        try:
            self.send_response(status, self.reasons.get(status))
            if not bodiless:
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
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class SimulatorBase:
    """Start/stop on 127.0.0.1 in a daemon thread, the connections a stop must close, the fault queue
    and the control routes.

    Subclasses call :meth:`_init_server` from ``__init__``, set ``handler_class``, ``fault_class``,
    ``thread_name`` and ``base_path`` (appended to ``http://host:port`` in ``base_url``), and supply
    ``_state()`` and (extending this one) ``reset()``.
    """

    handler_class: type[SimHandler]
    fault_class: type[FaultBase]
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
        self._faults: list[FaultBase] = []

    # ---- scripted faults ---------------------------------------------------
    def add_faults(self, *faults: FaultBase) -> None:
        """Append faults (instances of ``fault_class``), each consumed by one request, in order."""
        for f in faults:
            if not isinstance(f, self.fault_class):
                raise TypeError(f"add_faults() takes {self.fault_class.__name__} instances")
            f.validate()
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self, **match: Any) -> FaultBase | None:
        """Pop the first pending fault whose fields equal ``match`` (any fault when ``match`` is empty)."""
        with self._lock:
            for i, f in enumerate(self._faults):
                if all(getattr(f, name) == value for name, value in match.items()):
                    return self._faults.pop(i)
        return None

    def _pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def reset(self) -> None:
        """Drop pending faults; subclasses extend this to clear their own records."""
        with self._lock:
            self._faults.clear()

    # ---- control routes ----------------------------------------------------
    def _state(self) -> dict:  # pragma: no cover - each simulator has its own
        raise NotImplementedError

    def _control_routes(self) -> dict[str, tuple[str, Callable[[bytes], tuple[int, Any]]]]:
        """``name -> (method, fn)`` served under ``/__sim/``; extend it to add routes."""
        return {
            "state": ("GET", lambda body: (200, self._state())),
            "reset": ("POST", self._control_reset),
            "faults": ("POST", self._control_faults),
        }

    def _control_reset(self, body: bytes) -> tuple[int, Any]:
        self.reset()
        return 200, {"status": True}

    def _control_faults(self, body: bytes) -> tuple[int, Any]:
        data = control_json(body)
        try:
            if not isinstance(data, list):
                raise ValueError("expected a JSON list of fault objects")
            faults = [self.fault_class.from_dict(d) for d in data]
        except (ValueError, TypeError) as exc:
            raise ControlError(400, f"Invalid faults: {exc}") from None
        self.add_faults(*faults)
        return 200, {"status": True, "faults_pending": self._pending_faults()}

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        self._server = SimServer((self.host, self.port), self.handler_class, self)
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}{self.base_path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
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
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
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
