"""The small HTTP vocabulary the API modules share: requests, responses, errors, routing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import unquote


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON; ApiError 400 when it is not."""
        try:
            return json.loads(self.body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, message=f"request body is not valid JSON: {exc}") from exc

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int, lowest: int = 0, highest: int = 10_000) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ApiError(400, message=f"query parameter {name} must be an integer") from exc
        return max(lowest, min(highest, value))


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


class ApiError(Exception):
    """Raised by handlers to answer an error; `body` wins over `message` when given."""

    def __init__(
        self,
        status: int,
        body: Any = None,
        message: str = "",
        headers: dict[str, str] | None = None,
        outcome: str = "rejected",
    ) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.body = body if body is not None else {"meta": {"error": message, "errors": [message]}}
        self.headers = headers or {}
        self.outcome = outcome

    def response(self) -> Response:
        return Response(self.status, self.body, dict(self.headers), outcome=self.outcome)


Handler = Callable[[Request], Response]


class Router:
    """Method + path template (`/api/v1/customers/{identifier}`) -> handler."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and path parameters; ApiError 404/405 when nothing fits."""
        allowed = False
        for route_method, pattern, handler in self._routes:
            found = pattern.match(path)
            if not found:
                continue
            if route_method == method:
                return handler, {k: unquote(v) for k, v in found.groupdict().items()}
            allowed = True
        if allowed:
            raise ApiError(405, message=f"method {method} not allowed on {path}")
        raise ApiError(404, message=f"no such endpoint: {method} {path}", outcome="not_found")
