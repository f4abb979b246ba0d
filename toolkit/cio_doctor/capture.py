"""Read a captured HTTP request: a raw request (from files or stdin), or headers and body apart.

Accepted shapes:
- a raw HTTP request: optional request line (`POST /path HTTP/1.1`), header lines, a blank
  line, then the body bytes exactly as received;
- a headers file: `Name: value` lines, or a JSON object of header names to values;
- a body file: the raw bytes, never re-encoded.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from cio_doctor.findings import CannotCheck

_REQUEST_LINE = re.compile(rb"^[A-Z]+ \S+ HTTP/\d(\.\d)?$")


@dataclass(frozen=True)
class CapturedRequest:
    headers: dict[str, str]
    body: bytes


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CannotCheck(f"cannot read {source}: {exc.strerror or type(exc).__name__}") from None


def parse_header_lines(text: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or (number == 1 and _REQUEST_LINE.match(line)):
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise CannotCheck(f"header line {number} is not 'Name: value'")
        headers[name.strip().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def parse_headers(data: bytes) -> dict[str, str]:
    stripped = data.strip()
    if stripped.startswith(b"{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            raise CannotCheck("headers file looks like JSON but does not parse") from None
        if not isinstance(parsed, dict):
            raise CannotCheck("headers JSON must be an object of name -> value")
        return {str(k): str(v) for k, v in parsed.items()}
    return parse_header_lines(data)


def parse_raw_request(data: bytes) -> CapturedRequest:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, sep, body = data.partition(separator)
        if sep:
            return CapturedRequest(parse_header_lines(head), body)
    raise CannotCheck("raw request has no blank line between headers and body")


def load(request: str | None, headers: str | None, body: str | None) -> CapturedRequest:
    """From `--request FILE|-`, or `--headers FILE` plus `--body FILE|-`."""
    if request:
        if headers or body:
            raise CannotCheck("give either --request, or --headers with --body, not both")
        return parse_raw_request(_read(request))
    if not body:
        raise CannotCheck("nothing to read: give --request FILE (or -), or --headers and --body")
    return CapturedRequest(parse_headers(_read(headers)) if headers else {}, _read(body))
