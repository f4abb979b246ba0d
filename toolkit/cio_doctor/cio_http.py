"""A small debug client for Customer.io's Track, App and Pipelines APIs.

Every call returns a `Call` (never raises for HTTP errors): the request with credentials
redacted, status, latency, Customer.io's error text and request id. With a trace file,
each call is appended as one JSON line, ready to attach to a support ticket.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import requests
from cio_shared.common import REDACTED, redact, redact_email

from cio_doctor.findings import CannotCheck, now_iso

_REQUEST_ID_HEADERS = ("x-request-id", "x-cio-request-id", "request-id", "x-amzn-requestid")
_MAX_BODY_CHARS = 4000


@dataclass
class Call:
    """One HTTP exchange, safe to print and to share."""

    api: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    at: str = field(default_factory=now_iso)
    status: int | None = None
    latency_ms: float = 0.0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Any = None
    request_id: str | None = None
    error_message: str | None = None
    transport_error: str | None = None
    # the unredacted body, for the toolkit's own logic only: never printed or traced
    raw_body: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        return self.raw_body if isinstance(self.raw_body, dict | list) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "api": self.api,
            "request": {
                "method": self.method,
                "url": self.url,
                "headers": self.request_headers,
                "body": self.request_body,
            },
            "status": self.status,
            "latency_ms": round(self.latency_ms, 1),
            "request_id": self.request_id,
            "error_message": self.error_message,
            "transport_error": self.transport_error,
            "response": {"headers": self.response_headers, "body": self.response_body},
        }


class Trace:
    """Appends every call as a JSON line to a file (thread-safe)."""

    def __init__(self, path: Path) -> None:
        if not path.parent.is_dir():
            raise CannotCheck(f"--trace: folder {path.parent} does not exist")
        self.path = path
        self._lock = threading.Lock()

    def record(self, call: Call) -> None:
        line = json.dumps(call.to_dict(), default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def error_message(body: Any) -> str | None:
    """Customer.io's error text from `{"meta": {"error": ...}}` or `{"errors": [...]}`."""
    if isinstance(body, dict):
        meta = body.get("meta")
        if isinstance(meta, dict) and meta.get("error"):
            return str(meta["error"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for item in errors:
                if isinstance(item, dict):
                    parts.append(str(item.get("detail") or item.get("message") or item))
                else:
                    parts.append(str(item))
            return "; ".join(parts)
        if isinstance(body.get("error"), str):
            return str(body["error"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return None


def _redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: REDACTED if k.lower() in {"authorization", "cookie"} else v for k, v in headers.items()
    }


class CioClient:
    """Calls one API (`track` and `pipelines` with Basic auth, `app` with a bearer key)."""

    def __init__(
        self,
        api: str,
        base_url: str,
        auth_header: str,
        timeout: float = 10.0,
        trace: Trace | None = None,
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """`headers`: sent with every request and shown in its record (e.g. X-Strict-Mode)."""
        self.api = api
        self.headers = dict(headers or {})
        self.base_url = base_url.rstrip("/")
        self._auth = auth_header
        self.timeout = timeout
        self.trace = trace
        self.session = session or requests.Session()
        self.calls: list[Call] = []

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Call:
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = {"Authorization": self._auth, "Accept": "application/json", **self.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        prepared = requests.Request(method.upper(), url, headers=headers, params=params).prepare()
        call = Call(
            api=self.api,
            method=method.upper(),
            url=redact_email(unquote(str(prepared.url))),
            request_headers=_redact_headers(dict(prepared.headers)),
            request_body=redact(body) if body is not None else None,
        )
        start = time.perf_counter()
        try:
            response = self.session.request(
                method.upper(),
                url,
                params=params,
                headers=headers,
                data=json.dumps(body) if body is not None else None,
                timeout=self.timeout,
            )
        except requests.Timeout:
            call.transport_error = f"timed out after {self.timeout:g} s"
        except requests.ConnectionError as exc:
            call.transport_error = f"connection failed: {type(exc).__name__}"
        else:
            self._fill(call, response)
        call.latency_ms = (time.perf_counter() - start) * 1000
        self.calls.append(call)
        if self.trace:
            self.trace.record(call)
        return call

    def get(self, path: str, params: dict[str, str] | None = None) -> Call:
        return self.request("GET", path, params=params)

    @staticmethod
    def _fill(call: Call, response: requests.Response) -> None:
        call.status = response.status_code
        call.response_headers = _redact_headers(dict(response.headers))
        lowered = {k.lower(): v for k, v in response.headers.items()}
        call.request_id = next((lowered[h] for h in _REQUEST_ID_HEADERS if h in lowered), None)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:_MAX_BODY_CHARS]
        call.raw_body = body
        call.response_body = redact(body)
        if isinstance(body, dict) and not call.request_id:
            meta = body.get("meta")
            if isinstance(meta, dict) and meta.get("request_id"):
                call.request_id = str(meta["request_id"])
        if not call.ok:
            call.error_message = error_message(call.response_body)


def basic_auth(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def track_client(settings: Any, trace: Trace | None = None) -> CioClient:
    auth = basic_auth(*settings.track_auth())
    return CioClient("track", settings.track_url, auth, settings.timeout, trace)


def app_client(settings: Any, trace: Trace | None = None) -> CioClient:
    return CioClient(
        "app", settings.app_url, f"Bearer {settings.app_token()}", settings.timeout, trace
    )


def explain_failure(call: Call, what: str) -> str:
    """Why `call` failed, in words an on-call engineer can act on."""
    if call.transport_error:
        return f"{what}: {call.transport_error} ({call.method} {call.url})"
    reasons = {
        401: "credentials rejected (401): wrong or revoked key for this workspace/region",
        403: "forbidden (403): the key lacks the scope for this call",
        404: "not found (404)",
        429: "rate limited (429): Customer.io asks to back off",
    }
    reason = reasons.get(call.status or 0, f"HTTP {call.status}")
    extra = f": {call.error_message}" if call.error_message else ""
    rid = f" [request id {call.request_id}]" if call.request_id else ""
    return f"{what}: {reason}{extra}{rid}"


def require(call: Call, what: str) -> Any:
    """The JSON body of a successful call, else `CannotCheck` with the reason."""
    if not call.ok:
        raise CannotCheck(explain_failure(call, what))
    return call.json()
