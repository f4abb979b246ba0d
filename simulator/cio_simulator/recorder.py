"""The request log and counters the admin endpoints expose. Credentials never land here."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import Counter, deque
from typing import Any

from cio_simulator.http import Request

REDACTED = "[redacted]"
_SECRET_HEADERS = ("authorization", "x-cio-signature", "cookie")
_BODY_KEEP_BYTES = 64 * 1024


def redact_headers(headers: Any) -> dict[str, str]:
    """Header values with credentials replaced; keeps the auth scheme so tests can tell it."""
    clean = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            clean[name] = f"{scheme} {REDACTED}".strip()
        else:
            clean[name] = value
    return clean


def _body(raw: bytes | int) -> Any:
    """The body as recorded: raw bytes up to 64 KB (parsed only when read), else its size."""
    if isinstance(raw, int):
        return {"_truncated": True, "_bytes": raw}
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"_unparsed": raw[:512].decode("utf-8", "replace"), "_bytes": len(raw)}


_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@|%40)([A-Za-z0-9.-]+)")


def access_line(entry: dict[str, Any]) -> str:
    """One line per request for `--log-requests`: no headers, no bodies, emails masked."""
    path = _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}{m.group(3)}", entry["path"])
    status = entry["status"] if entry["status"] is not None else "-"
    return f"{entry['method']} {path} {status} {entry['outcome']} {entry['duration_ms']}ms"


class Recorder:
    def __init__(self, size: int, echo: bool = False) -> None:
        self.echo = echo
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._seq = itertools.count(1)
        self.counters: Counter[str] = Counter()

    def record(self, request: Request, status: int | None, outcome: str, started: float) -> None:
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": redact_headers(request.headers),
            "body": request.body if len(request.body) <= _BODY_KEEP_BYTES else len(request.body),
            "status": status,
            "outcome": outcome,
            "received_at": time.time() - (time.monotonic() - started),
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
        }
        with self._lock:
            entry["seq"] = next(self._seq)
            self._entries.append(entry)
            self.counters["requests"] += 1
            self.counters[f"status_{status}" if status is not None else f"no_answer_{outcome}"] += 1
            if outcome == "rate_limited":
                self.counters["rate_limited_429"] += 1
        if self.echo:
            print(access_line(entry), flush=True)

    def entries(
        self, path_prefix: str = "", method: str = "", limit: int = 0
    ) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                e
                for e in self._entries
                if e["path"].startswith(path_prefix)
                and (not method or e["method"] == method.upper())
            ]
        found = found[-limit:] if limit else found
        return [{**e, "body": _body(e["body"])} for e in found]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self.counters.clear()
