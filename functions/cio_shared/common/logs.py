"""Structured JSON logs that Cloud Logging understands, with redaction.

One JSON object per line on stdout: Cloud Run / Cloud Functions parse it into a
structured entry, take `severity`, and link `logging.googleapis.com/trace` to the request's
trace. Emails and anything that looks like a secret are redacted before writing.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TextIO

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_SECRET_KEYS = re.compile(r"(key|secret|token|password|authorization|signature)", re.I)
_TRACE_CONTEXT = re.compile(r"^([0-9a-fA-F]{32})")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-")
_write_lock = threading.Lock()
# json.dumps with options builds an encoder per call; one, shared (encode is thread-safe)
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)

REDACTED = "[redacted]"


def redact_email(text: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: enough to recognise, not to contact."""
    if "@" not in text:  # most log values: skip the regex
        return text
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


@lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    """Log field names repeat on every line: the regex runs once per name."""
    return bool(_SECRET_KEYS.search(key))


def redact(value: Any, key: str = "") -> Any:
    """Redact secrets (by key name) and emails (by shape) anywhere in a JSON-like value."""
    if key and _secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_email(value)
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_field(key: str, value: Any) -> Any:
    """`redact(value, key)` for one log field, with the common cases (numbers, strings without
    `@`) answered before any recursion: a log line's fields are mostly those."""
    if _secret_key(key):
        return REDACTED
    kind = type(value)
    if kind is str:
        return redact_email(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value
    return redact(value, key)


def trace_id_from_headers(headers: Mapping[str, str]) -> str | None:
    """The trace id from `X-Cloud-Trace-Context` or W3C `traceparent`, if present."""
    cloud = headers.get("X-Cloud-Trace-Context") or headers.get("x-cloud-trace-context")
    if cloud and (m := _TRACE_CONTEXT.match(cloud)):
        return m.group(1)
    parent = headers.get("traceparent") or headers.get("Traceparent")
    if parent and (m := _TRACEPARENT.match(parent)):
        return m.group(1)
    return None


class StructuredLogger:
    """Writes redacted JSON log lines; `bind` returns a logger with extra fixed fields."""

    def __init__(
        self,
        component: str,
        stream: TextIO | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.component = component
        self._stream = stream
        self._fields = dict(fields or {})

    def bind(self, **fields: Any) -> StructuredLogger:
        return StructuredLogger(self.component, self._stream, {**self._fields, **fields})

    def with_trace(self, headers: Mapping[str, str]) -> StructuredLogger:
        """Bind the request's trace so Cloud Logging groups the line under it."""
        trace_id = trace_id_from_headers(headers)
        if not trace_id:
            return self
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "")
        trace = f"projects/{project}/traces/{trace_id}" if project else trace_id
        return self.bind(**{"logging.googleapis.com/trace": trace})

    def log(self, severity: str, message: str, **fields: Any) -> None:
        entry: dict[str, Any] = {"severity": severity, "message": redact_email(message)}
        entry["component"] = self.component
        # as redact({**self._fields, **fields}): a call's field overrides a bound one in place
        for key, value in self._fields.items():
            entry[key] = _redact_field(key, value)
        for key, value in fields.items():
            entry[key] = _redact_field(key, value)
        line = _ENCODER.encode(entry)
        stream = self._stream or sys.stdout
        with _write_lock:
            stream.write(line + "\n")
            stream.flush()

    def debug(self, message: str, **fields: Any) -> None:
        self.log("DEBUG", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)


def get_logger(component: str) -> StructuredLogger:
    return StructuredLogger(component)
