"""`cio-doctor webhook verify` on captured requests: each way a signature can fail."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from tests.toolkit.doctor import run

KEY = "whsec-test-key-0123456789"
EVENTS = [
    {
        "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
        "object_type": "email",
        "metric": "sent",
        "timestamp": 0,
        "data": {"customer_id": "42", "delivery_id": "d1"},
    },
    {
        "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQK",
        "object_type": "email",
        "metric": "delivered",
        "timestamp": 0,
        "data": {"customer_id": "42", "delivery_id": "d1"},
    },
    {
        "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQM",
        "object_type": "customer",
        "metric": "unsubscribed",
        "timestamp": 0,
        "data": {"customer_id": "42"},
    },
]


def _sign(key: str, ts: int, body: bytes) -> str:
    return hmac.new(key.encode(), b"v0:%d:" % ts + body, hashlib.sha256).hexdigest()


def _capture(tmp_path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ["POST /webhook HTTP/1.1", "Host: handler", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    path = tmp_path / "request.http"
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
    return path


def _body(events: list[dict], ts: int) -> bytes:
    return json.dumps([{**e, "timestamp": ts - 5} for e in events]).encode()


def _verify(path: Path, *extra: str, key: str = KEY) -> dict:
    result = run(
        ["webhook", "verify", "--request", str(path), "--json", *extra],
        env={"CIO_WEBHOOK_SIGNING_KEY": key},
    )
    data = result.json
    data["_code"] = result.code
    data["_stderr"] = result.stderr
    return data


def _signature(report: dict) -> dict:
    return next(c for c in report["checks"] if c["name"] == "signature")["data"]


def test_valid_signature_counts_events_by_type_and_metric(tmp_path: Path) -> None:
    ts = int(time.time())
    body = _body(EVENTS, ts)
    report = _verify(
        _capture(
            tmp_path, body, {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": _sign(KEY, ts, body)}
        )
    )
    assert report["_code"] == 0, report
    assert _signature(report)["valid"] is True
    events = next(c for c in report["checks"] if c["name"] == "events")["data"]
    assert events["events"] == 3
    assert {"object_type": "email", "metric": "sent", "count": 1} in events["by_type_and_metric"]
    assert events["lag_seconds"]["max"] == 5
    assert KEY not in json.dumps(report)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda b, h: (b, {k: v for k, v in h.items() if k != "X-CIO-Signature"}),
            "header_missing",
        ),
        (lambda b, h: (b.replace(b'"sent"', b'"opened"'), h), "wrong_key"),
        (lambda b, h: (json.dumps(json.loads(b), indent=2).encode(), h), "body_altered"),
        (lambda b, h: (b + b"\n", h), "body_altered"),
        (
            lambda b, h: (b, {**h, "X-CIO-Signature": "sha256=" + h["X-CIO-Signature"]}),
            "signature_malformed",
        ),
    ],
    ids=["header-missing", "field-changed", "re-serialized", "newline-added", "prefixed"],
)
def test_failures_name_their_cause(tmp_path: Path, mutate, reason: str) -> None:
    ts = int(time.time())
    body = _body(EVENTS, ts)
    headers = {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": _sign(KEY, ts, body)}
    body, headers = mutate(body, headers)
    report = _verify(_capture(tmp_path, body, headers))
    assert report["_code"] == 1
    assert _signature(report)["reason"] == reason
    assert f"signature_{reason}" in [f["code"] for f in report["findings"]]


def test_wrong_key_is_reported_as_wrong_key(tmp_path: Path) -> None:
    ts = int(time.time())
    body = _body(EVENTS, ts)
    path = _capture(
        tmp_path,
        body,
        {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": _sign("another-webhooks-key", ts, body)},
    )
    report = _verify(path)
    assert report["_code"] == 1
    assert _signature(report)["reason"] == "wrong_key"
    assert report["findings"][0]["severity"] == "critical"


def test_stale_timestamp_and_verifying_as_of_capture_time(tmp_path: Path) -> None:
    ts = int(time.time()) - 9 * 86400
    body = _body(EVENTS, ts)
    path = _capture(
        tmp_path, body, {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": _sign(KEY, ts, body)}
    )
    assert _signature(_verify(path))["reason"] == "stale_timestamp"
    as_of = _verify(path, "--at", str(ts + 10))
    assert as_of["_code"] == 0
    assert _signature(as_of)["valid"] is True


def test_key_with_trailing_newline_and_previous_key(tmp_path: Path) -> None:
    ts = int(time.time())
    body = _body(EVENTS, ts)
    path = _capture(
        tmp_path, body, {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": _sign(KEY, ts, body)}
    )
    assert _signature(_verify(path, key=KEY + "\n"))["reason"] == "key_whitespace"
    result = run(
        ["webhook", "verify", "--request", str(path), "--json"],
        env={"CIO_WEBHOOK_SIGNING_KEY": "new-key", "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS": KEY},
    )
    assert result.code == 1
    assert result.finding_codes() == ["signed_with_previous_key"]


def test_headers_and_body_files_and_stdin(tmp_path: Path) -> None:
    ts = int(time.time())
    body = _body(EVENTS, ts)
    headers = tmp_path / "headers.json"
    headers.write_text(
        json.dumps({"x-cio-timestamp": str(ts), "x-cio-signature": _sign(KEY, ts, body)})
    )
    result = run(
        ["webhook", "verify", "--headers", str(headers), "--body", "-", "--json"],
        env={"CIO_WEBHOOK_SIGNING_KEY": KEY},
        stdin=body,
    )
    assert result.code == 0, result.stderr
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    result = run(
        [
            "webhook",
            "verify",
            "--headers",
            str(headers),
            "--body",
            "-",
            "--key-file",
            str(key_file),
            "--json",
        ],
        stdin=body,
    )
    assert result.code == 0, result.stderr


def test_per_event_errors_and_backlog(tmp_path: Path) -> None:
    ts = int(time.time())
    events = [
        {**EVENTS[0], "timestamp": ts - 7200},
        {"object_type": "email", "metric": "teleported", "timestamp": ts, "data": {}},
        {**EVENTS[1], "object_type": "fax", "timestamp": ts},
    ]
    body = json.dumps(events).encode()
    report = _verify(
        _capture(
            tmp_path, body, {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": _sign(KEY, ts, body)}
        )
    )
    assert report["_code"] == 1
    data = next(c for c in report["checks"] if c["name"] == "events")["data"]
    errors = {e["index"]: e["errors"] for e in data["event_errors"]}
    assert errors[1] == ["missing event_id", "unknown metric 'teleported' for email"]
    assert errors[2] == ["unknown object_type 'fax'"]
    codes = [f["code"] for f in report["findings"]]
    assert "event_invalid" in codes
    assert "delivery_backlog" in codes


def test_bad_input_is_a_clear_error_with_exit_2(tmp_path: Path) -> None:
    result = run(
        ["webhook", "verify", "--request", str(tmp_path / "missing"), "--json"],
        env={"CIO_WEBHOOK_SIGNING_KEY": KEY},
    )
    assert result.code == 2
    assert "cannot read" in result.json["error"]
    no_key = run(["webhook", "verify", "--body", "-"], stdin=b"{}")
    assert no_key.code == 2
    assert "CIO_WEBHOOK_SIGNING_KEY" in no_key.stderr
    assert run(["webhook", "verify", "--max-age", "zero"]).code == 2
