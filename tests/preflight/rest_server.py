"""A tiny JSON-over-HTTP server on 127.0.0.1 that answers from a route table.

Each fake Google API is a list of routes; a request no route matches gets 501, so a wrong
path in the code under test shows up as "could not check", never as a false "not found".
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, Any]]
Handler = Callable[[re.Match[str], dict[str, list[str]]], Answer]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regular expression over the path (without the query)
    handler: Handler


def error(code: int, status: str, message: str) -> Answer:
    """Google's JSON error shape."""
    return code, {"error": {"code": code, "message": message, "status": status}}


@contextmanager
def serve(routes: list[Route], calls: list[str]) -> Iterator[str]:
    """Serve `routes` on 127.0.0.1; yields `http://127.0.0.1:PORT`; records `METHOD path`."""

    class RequestHandler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            calls.append(f"{self.command} {parts.path}")
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, body = error(501, "UNIMPLEMENTED", f"no fake for {self.command} {parts.path}")
            for route in routes:
                match = re.fullmatch(route.pattern, parts.path)
                if route.method == self.command and match:
                    status, body = route.handler(match, parse_qs(parts.query))
                    break
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
