"""The simulator's HTTP server: one threaded stdlib server, one request pipeline.

Pipeline for API requests: fault decision (latency, drop, timeout, outage, status) -> auth ->
rate limit -> route and handle -> record in the request log. Admin requests (`/_admin/...`)
skip faults, auth and rate limits and are not recorded.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cio_simulator import auth
from cio_simulator.admin import AdminApi
from cio_simulator.app_api import AppApi
from cio_simulator.catalog import Catalog
from cio_simulator.config import SimulatorConfig
from cio_simulator.faults import FaultDecision, FaultInjector
from cio_simulator.http import ApiError, Handler, Request, Response, Router
from cio_simulator.pipelines_api import PATHS as PIPELINES_PATHS
from cio_simulator.pipelines_api import PipelinesApi, authenticate
from cio_simulator.ratelimit import TokenBucket, retry_after_header
from cio_simulator.recorder import Recorder
from cio_simulator.reference import reference_dir
from cio_simulator.track_api import TrackApi
from cio_simulator.transactional_api import TransactionalApi
from cio_simulator.workspace import Workspace

_KNOWN_STATUSES = {s.value for s in HTTPStatus}
ADMIN_PREFIX = "/_admin/"
TRACK_PREFIX = "/api/"
APP_PREFIX = "/v1/"
PUBLIC_APP_PATHS = frozenset({"/v1/info/ip_addresses"})  # documented without an App API key


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Answers go out in one write; without NODELAY, delayed ACKs cost ~40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log at /_admin/requests is the record."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)  # ValueError: see _dispatch
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _dispatch(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Response(400, {"meta": {"error": "invalid Content-Length or chunked body"}}))
            return
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=self.headers,
            body=body,
        )
        try:
            self._handle(request, started)
        except Exception as exc:  # a simulator bug must show up as one, not as a dropped connection
            self.server.simulator.recorder.record(request, 500, "simulator_error", started)
            self._send(
                Response(500, {"meta": {"error": f"simulator error: {type(exc).__name__}: {exc}"}})
            )
            raise

    def _handle(self, request: Request, started: float) -> None:
        simulator = self.server.simulator
        if request.path.startswith(ADMIN_PREFIX):
            if not ipaddress.ip_address(self.client_address[0]).is_loopback:
                self._send(Response(403, {"meta": {"error": "admin endpoints are loopback only"}}))
                return
            self._send(simulator.admin_response(request))
            return
        decision = simulator.faults.decide(request.path)
        if decision.latency_seconds and simulator.stopping.wait(decision.latency_seconds):
            self._abort()
            return
        if decision.kind in ("drop", "timeout"):
            simulator.recorder.record(request, None, decision.kind, started)
            if decision.kind == "timeout":
                simulator.stopping.wait(simulator.faults.config.timeout_hold_seconds)
            self._abort()
            return
        response = simulator.api_response(request, decision)
        simulator.recorder.record(request, response.status, response.outcome, started)
        self._send(response)

    def _send(self, response: Response) -> None:
        """Status line, headers and body in one write (see `setup`)."""
        payload = response.encoded()
        headers = {"Server": "cio-simulator", "Date": self.date_time_string()}
        if response.body is not None and not isinstance(response.body, bytes):
            headers["Content-Type"] = "application/json; charset=utf-8"
        headers.update(response.headers)
        headers["Content-Length"] = str(len(payload))
        phrase = HTTPStatus(response.status).phrase if response.status in _KNOWN_STATUSES else ""
        head = f"{self.protocol_version} {response.status} {phrase}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        self.wfile.write(head.encode("latin-1") + (b"" if self.command == "HEAD" else payload))

    def _abort(self) -> None:
        """Close the connection without an answer (what a dropped connection looks like)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class Simulator:
    """Customer.io on 127.0.0.1. `start()` serves from a background thread; `url` is its base."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        if self.config.validate_schemas:
            reference_dir()  # fail at start, with the places searched, not on the first request
        self.workspace = Workspace()
        self.catalog = Catalog(self.workspace)
        self.faults = FaultInjector(self.config.faults)
        self.recorder = Recorder(self.config.request_log_size, echo=self.config.log_requests)
        self.stopping = threading.Event()
        self._buckets: dict[str, TokenBucket] = {}
        self._reset_buckets()
        self.router = Router()
        TrackApi(self.workspace, self.config).register(self.router)
        PipelinesApi(self.workspace, self.config).register(self.router)
        AppApi(self.workspace, self.catalog, self.config.region).register(self.router)
        self.admin_router = Router()
        AdminApi(self).register(self.admin_router)
        self.transactional = TransactionalApi(self)
        self.transactional.register(self.router, self.admin_router)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> Simulator:
        self.stopping.clear()
        self._bind()
        self._thread = threading.Thread(
            target=self.serve_forever, name="cio-simulator", daemon=True
        )
        self._thread.start()
        return self

    def _bind(self) -> _Server:
        if self._server is None:
            self._server = _Server((self.config.host, self.config.port), self)
            self.faults.apply(self.faults.config)  # outage windows count from listening
        return self._server

    def serve_forever(self) -> None:
        self._bind().serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._bind().server_address[1])

    @property
    def url(self) -> str:
        host = self.config.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    # -- request handling -----------------------------------------------------------------------

    def admin_response(self, request: Request) -> Response:
        try:
            handler, request.params = self.admin_router.match(request.method, request.path)
            return handler(request)
        except ApiError as error:
            return error.response()

    def api_response(self, request: Request, decision: FaultDecision) -> Response:
        try:
            return self._api_response(request, decision)
        except ApiError as error:
            return error.response()

    def _api_response(self, request: Request, decision: FaultDecision) -> Response:
        status = decision.status
        if status is not None and not (self.faults.config.after_store and status >= 500):
            return _fault_response(status, decision)
        try:
            self._admit(request)
            handler, request.params = self.router.match(request.method, request.path)
        except ApiError as refused:
            # Refused before anything was stored: an injected after-store 5xx still answers.
            return _fault_response(status, decision) if status is not None else refused.response()
        response = self._run(handler, request)
        if status is not None:
            fault = _fault_response(status, decision)
            fault.outcome = f"{fault.outcome}_after_{response.outcome}"
            return fault
        return response

    def _admit(self, request: Request) -> None:
        """Authentication, then the rate limit of the API family: ApiError 401/404/429."""
        family = self._authenticate(request)
        wait = self._buckets[family].take() if family in self._buckets else 0.0
        if wait:
            raise ApiError(
                429,
                {"meta": {"error": "Too many requests: rate limit exceeded"}},
                headers={"Retry-After": retry_after_header(wait)},
                outcome="rate_limited",
            )

    def _run(self, handler: Handler, request: Request) -> Response:
        try:
            return handler(request)
        except ApiError as error:
            return error.response()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if self.config.validate_schemas:
                raise  # the schemas should have caught it: a simulator bug
            return ApiError(
                400, message=f"malformed request (schema validation is off): {exc!r}"
            ).response()

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("Authorization")
        if request.path.startswith(TRACK_PREFIX):
            auth.check_basic(header, self.config.site_id, self.config.track_api_key)
            return "track"
        if request.path in PIPELINES_PATHS:
            authenticate(request, self.config)
            return "pipelines"
        if request.path in PUBLIC_APP_PATHS:
            return "app"
        if request.path.startswith(APP_PREFIX):
            auth.check_bearer(header, self.config.app_api_key)
            return "app"
        raise ApiError(
            404, message=f"no such endpoint: {request.method} {request.path}", outcome="not_found"
        )

    # -- admin helpers ----------------------------------------------------------------------------

    def _reset_buckets(self) -> None:
        self._buckets.clear()
        if self.config.rate_limit:
            self._buckets["track"] = TokenBucket(self.config.rate_limit, self.config.rate_burst)
        if self.config.app_rate_limit:
            self._buckets["app"] = TokenBucket(self.config.app_rate_limit)
        if self.config.pipelines_rate_limit:
            self._buckets["pipelines"] = TokenBucket(
                self.config.pipelines_rate_limit, self.config.rate_burst
            )

    def reset(self) -> None:
        """Back to the state at start-up: empty workspace and log, start-up faults, full buckets."""
        self.workspace.reset()
        self.catalog.reset()
        self.transactional.reset()
        self.recorder.reset()
        self.faults.counts.clear()
        self.faults.apply(self.config.faults)
        self._reset_buckets()

    def stats(self) -> dict[str, Any]:
        counters = dict(self.recorder.counters)
        return {
            "requests": counters.pop("requests", 0),
            "rate_limited_429": counters.pop("rate_limited_429", 0),
            "by_status": counters,
            "injected_faults": dict(self.faults.counts),
            "stale_attribute_updates": self.workspace.stale_updates,
            "duplicate_events": self.workspace.duplicate_count(),
        }


def _fault_response(status: int, decision: FaultDecision) -> Response:
    kind = decision.kind or str(status)
    headers = {"Retry-After": "1"} if status in (429, 503) else {}
    message = (
        "Service Unavailable (simulated outage)" if kind == "outage" else f"simulated {status}"
    )
    return Response(status, {"meta": {"error": message}}, headers, outcome=f"fault_{kind}")
