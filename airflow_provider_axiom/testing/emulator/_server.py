"""HTTP transport: a keep-alive ``ThreadingHTTPServer`` with fault injection and admin routes."""

from __future__ import annotations

import _thread
import contextlib
import io
import json
import selectors
import socket
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._clock import http_date, iso_full, parse_iso
from ._faults import Fault, FaultSpecError, parse_plan
from ._scenario import ScenarioError, parse_scenario
from ._state import (
    INVALID_JSON,
    MSG_NOT_FOUND,
    MSG_RATE_LIMIT,
    MSG_TASK_NOT_FOUND,
    EmulatorCore,
)

API_PREFIX = "/api/v3/"
ADMIN_PREFIX = "/_emulator/"
MAX_BODY = 32 * 1024 * 1024
ADMIN_ROUTES = frozenset(
    ("health", "requests", "runs", "calls", "scenario", "reset", "clock", "rate-limit", "faults", "automations")
)

GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _fault_body(fault: Fault, core: EmulatorCore) -> dict[str, Any]:
    status = fault.status or 500
    if fault.message is not None:
        message = fault.message
    elif status >= 500:
        message = "Internal server error"
    else:
        message = {
            400: "Bad request",
            401: core.scenario.invalid_key_message,
            403: "Quota exceeded",
            404: MSG_TASK_NOT_FOUND,
            429: MSG_RATE_LIMIT,
        }.get(status, _phrase(status))
    return {"status": "error", "message": message}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP/1.1 server bound to one :class:`EmulatorCore`; tracks open connections.

    The accept loop drains every pending connection per wake-up and starts handler threads without
    waiting for them to be scheduled (``threading.Thread.start`` would wait, which makes a burst of a
    few hundred new keep-alive connections take seconds under GIL contention). ``shutdown()`` wakes
    the loop through a socket pair instead of waiting for the poll interval.
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], core: EmulatorCore) -> None:
        self.core = core
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._loop_done = threading.Event()
        self._loop_done.set()
        self._wake_r, self._wake_w = socket.socketpair()
        super().__init__(address, _Handler)

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        self._stop_requested.clear()
        self._loop_done.clear()
        self.socket.setblocking(False)
        self._wake_r.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._stop_requested.is_set():
                    for key, _ in selector.select(poll_interval):
                        if key.fileobj is self._wake_r:
                            with contextlib.suppress(OSError):
                                self._wake_r.recv(64)
                        else:
                            self._accept_pending()
        finally:
            self._loop_done.set()

    def _accept_pending(self) -> None:
        while not self._stop_requested.is_set():
            try:
                conn, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(True)
            with self._connections_lock:
                self._connections.add(conn)
            try:
                _thread.start_new_thread(self.process_request_thread, (conn, address))
            except RuntimeError:  # cannot start a thread: refuse this connection, keep serving
                self.shutdown_request(conn)

    def shutdown(self) -> None:
        """Stop the accept loop (returns once :meth:`serve_forever` has returned)."""
        self._stop_requested.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._loop_done.wait()

    def server_close(self) -> None:
        super().server_close()
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away; report anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or (
            isinstance(exc, (OSError, ValueError)) and "closed" in str(exc)
        ):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection (so handler threads end promptly)."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "axiom-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    # -------------------------------------------------------------- plumbing

    def setup(self) -> None:
        # Idle keep-alive connections are closed after this many real seconds (None: never).
        super().setup()
        idle = self.server.core.scenario.keep_alive_timeout
        if idle is not None:
            self.connection.settimeout(idle)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return http_date(self.server.core.now() if timestamp is None else timestamp)

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_phrase(status)}",
            f"Date: {self.date_time_string()}",
            f"Server: {self.server_version}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(payload)}",
        ]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + payload)
        except OSError:
            self.close_connection = True

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _fail(self, kind: str, endpoint: str, method: str, label: str | None, body: Any, at: float | None) -> None:
        """Record and deliver a connection reset (``"reset"``) or a gateway's 502 page (``"html"``).

        ``at`` is None when the request was not processed, else the emulated time it was.
        """
        if kind == "reset":
            self.server.core.record_request(endpoint, method, "reset", label, body, at)
            self._reset()
        else:
            self.server.core.record_request(endpoint, method, 502, label, body, at)
            self._send(502, GATEWAY_HTML, "text/html")

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0, then close)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            self.connection.close()
        # The stdlib flushes/closes these after the handler returns; give it harmless stand-ins.
        self.wfile = io.BytesIO()
        self.rfile = io.BytesIO()

    def _parse_json(self, raw: bytes) -> Any:
        content_type = self.headers.get("Content-Type", "")
        if "json" not in content_type.split(";", 1)[0].lower():
            # Like an Express json() body parser: other content types leave the body empty.
            return {}
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return INVALID_JSON
        return body if isinstance(body, dict) else INVALID_JSON

    # -------------------------------------------------------------- dispatch

    def _dispatch(self, method: str) -> None:
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send_json(400, {"status": "error", "message": "Bad request"})
            return
        url = urlsplit(self.path)
        if url.path.startswith(ADMIN_PREFIX):
            self._admin(method, url.path[len(ADMIN_PREFIX) :].strip("/"), parse_qs(url.query), raw)
        elif url.path.startswith(API_PREFIX):
            self._api(method, url.path[len(API_PREFIX) :].strip("/"), raw)
        else:
            self._send_json(404, {"status": "error", "message": MSG_NOT_FOUND})

    def _api(self, method: str, endpoint: str, raw: bytes) -> None:
        core = self.server.core
        body = self._parse_json(raw) if method == "POST" else None
        fault = core.faults.next(endpoint)
        label = fault.describe() if fault else None
        if fault is not None and fault.latency:
            time.sleep(fault.latency)
        if fault is not None and fault.kind in ("reset", "html", "status"):
            if fault.kind in ("reset", "html"):
                self._fail(fault.kind, endpoint, method, label, body, None)
            else:
                status = fault.status or 500
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
                core.record_request(endpoint, method, status, label, body, None)
                self._send_json(status, _fault_body(fault, core), headers)
            return

        at = core.now()
        if method != "POST":
            status, answer = 404, {"status": "error", "message": MSG_NOT_FOUND}
        else:
            status, answer = core.handle_api(endpoint, body)
        payload = json.dumps(answer).encode("utf-8")

        if fault is None or fault.kind == "ok":
            core.record_request(endpoint, method, status, label, body, at)
            self._send(status, payload, "application/json; charset=utf-8")
        elif fault.kind == "truncated":
            core.record_request(endpoint, method, 200, label, body, at)
            self._send(200, payload[: len(payload) // 2], "application/json; charset=utf-8")
        elif fault.lost_mode in ("reset", "502"):
            self._fail("reset" if fault.lost_mode == "reset" else "html", endpoint, method, label, body, at)
        else:  # hang: processed, answer only after hang_seconds (the client has usually given up)
            core.record_request(endpoint, method, status, label, body, at)
            time.sleep(fault.hang_seconds)
            self.close_connection = True
            self._send(status, payload, "application/json; charset=utf-8")

    # -------------------------------------------------------------- admin

    def _admin(self, method: str, route: str, query: dict[str, list[str]], raw: bytes) -> None:
        core = self.server.core
        try:
            body: Any = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError):
            self._send_json(400, {"status": "error", "message": "Request body must be valid JSON."})
            return
        first = {k: v[0] for k, v in query.items() if v}
        try:
            if method == "GET" and route == "health":
                self._send_json(200, core.health())
            elif method == "GET" and route == "requests":
                self._send_json(200, core.requests(first.get("endpoint")))
            elif method == "GET" and route == "runs":
                self._send_json(200, core.runs(first.get("name")))
            elif method == "GET" and route == "calls":
                since = parse_iso(first["since"]) if first.get("since") else None
                window = float(first.get("window", 60.0))
                self._send_json(200, core.call_stats(first.get("key"), since, window))
            elif method == "POST" and route == "rate-limit":
                self._rate_limit(core, body)
            elif method == "POST" and route == "scenario":
                core.load(parse_scenario(body, "<posted>"))
                self._send_json(200, {"status": "ok"})
            elif method == "POST" and route == "reset":
                core.reset()
                self._send_json(200, {"status": "ok"})
            elif method == "POST" and route == "clock":
                self._clock(core, body)
            elif method == "POST" and route == "faults":
                self._faults(core, body)
            elif method == "POST" and route == "runs":
                if not isinstance(body, dict) or not isinstance(body.get("name"), str):
                    raise ValueError('body must be {"name": ..., "data"?: rows, "outcome"?, "duration"?, "output"?}')
                fields = dict(body)
                self._send_json(200, core.start_run(fields.pop("name"), fields.pop("data", None), **fields))
            elif method == "POST" and route == "automations":
                if not isinstance(body, dict) or not isinstance(body.get("name"), str):
                    raise ValueError("body must be an automation object with a 'name'")
                fields = dict(body)
                core.add_automation(fields.pop("name"), **fields)
                self._send_json(200, {"status": "ok"})
            elif route in ADMIN_ROUTES:
                self._send_json(405, {"status": "error", "message": f"Method {method} not allowed here"})
            else:
                self._send_json(404, {"status": "error", "message": MSG_NOT_FOUND})
        except (ScenarioError, FaultSpecError, ValueError, TypeError) as exc:
            self._send_json(400, {"status": "error", "message": str(exc)})

    def _clock(self, core: EmulatorCore, body: Any) -> None:
        if not isinstance(body, dict) or not set(body) <= {"advance", "speed"} or not body:
            raise ValueError('body must be {"advance": seconds} and/or {"speed": x}')
        if "speed" in body:
            core.set_speed(body["speed"])
        if "advance" in body:
            core.advance(body["advance"])
        self._send_json(200, {"status": "ok", "now": iso_full(core.now()), "speed": core.clock.speed})

    def _rate_limit(self, core: EmulatorCore, body: Any) -> None:
        if not isinstance(body, dict) or not body or not set(body) <= {"per_minute", "counts_refused"}:
            raise ValueError('body must be {"per_minute": n | null} and/or {"counts_refused": true | false}')
        per_minute = body.get("per_minute", core.scenario.rate_limit_per_minute)
        counts_refused = body.get("counts_refused")
        if counts_refused is not None and not isinstance(counts_refused, bool):
            raise ValueError(f"counts_refused must be true or false, got {counts_refused!r}")
        core.set_rate_limit(per_minute, counts_refused)
        sc = core.scenario
        self._send_json(
            200,
            {"status": "ok", "per_minute": sc.rate_limit_per_minute, "counts_refused": sc.rate_limit_counts_refused},
        )

    def _faults(self, core: EmulatorCore, body: Any) -> None:
        if not isinstance(body, dict) or not set(body) <= {"endpoint", "sequence", "probability", "fault"}:
            raise ValueError('body must be {"endpoint": ..., "sequence": [...]} or probability + fault')
        endpoint = body.get("endpoint", "*")
        plan = parse_plan(body.get("sequence"), body.get("probability"), body.get("fault"), "faults")
        core.set_faults(str(endpoint), plan)
        self._send_json(200, {"status": "ok", "faults": core.faults.snapshot()})
