"""`cio-doctor webhook verify|replay`: check a captured reporting webhook, or send one again."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from cio_doctor import webhook_events
from cio_doctor.capture import CapturedRequest
from cio_doctor.config import Settings
from cio_doctor.findings import Check, Report, Severity, running_check
from cio_doctor.webhook_sig import TIMESTAMP_HEADER, Verdict, header, sign, verify

_VERDICT_SEVERITY = {
    "header_missing": Severity.HIGH,
    "timestamp_invalid": Severity.HIGH,
    "signature_malformed": Severity.HIGH,
    "stale_timestamp": Severity.MEDIUM,
    "wrong_key": Severity.CRITICAL,
    "body_altered": Severity.HIGH,
    # The handler strips the key (cio_shared.webhooks.settings reads it through EnvReader,
    # which strips), so it accepts what this key signs: a tidy-up, not an outage.
    "key_whitespace": Severity.LOW,
}
_NEXT_STEP = {
    "header_missing": "Check that the request came from Customer.io and that the load "
    "balancer/proxy forwards X-CIO-Signature and X-CIO-Timestamp.",
    "timestamp_invalid": "The timestamp must be Unix seconds; check the capture.",
    "signature_malformed": "Pass the header value unchanged (64 hex characters).",
    "stale_timestamp": "If this is a replay, re-sign it (`cio-doctor webhook replay`); if live "
    "traffic is stale, check the handler host's clock (NTP).",
    "wrong_key": "Compare the key in Secret Manager with the one on the reporting webhook's "
    "page in Customer.io; after a rotation, put the old key in "
    "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS until every instance runs the new one.",
    "body_altered": "Verify the raw request bytes before parsing; look for middleware that "
    "re-encodes JSON or adds a newline.",
    "key_whitespace": "Nothing is rejected because of it: the webhook handler strips the key. "
    "Tidy the secret when convenient: add a version without the trailing newline "
    "(printf '%s' KEY | gcloud secrets versions add ... --data-file=-), as anything else "
    "reading the secret may not strip it.",
}


def signing_keys(settings: Settings, key_file: Path | None) -> list[tuple[str, str]]:
    """(label, key) pairs: --key-file or the current key, then the previous one if set."""
    if key_file is not None:
        keys = [("key-file", key_file.read_text(encoding="utf-8"))]
    else:
        keys = [("current", settings.secret("webhook-signing-key").reveal())]
    previous = settings.previous_secret("webhook-signing-key")
    if previous is not None:
        keys.append(("previous", previous.reveal()))
    return keys


def verdict_check(check: Check, verdict: Verdict) -> None:
    check.data.update(
        {
            "valid": verdict.ok,
            "reason": verdict.reason,
            "explanation": verdict.explanation,
            "key": verdict.key_used,
            "timestamp_age_seconds": verdict.age_seconds,
        }
    )
    if verdict.ok and verdict.key_used == "previous":
        check.add(
            Severity.LOW,
            "signed_with_previous_key",
            "signed with the previous signing key",
            "The key rotation is not finished on Customer.io's side or ours.",
            "Finish the rotation, then remove CIO_WEBHOOK_SIGNING_KEY_PREVIOUS.",
        )
    elif verdict.reason == "key_whitespace":
        check.data["handler_accepts"] = True
        check.add(
            _VERDICT_SEVERITY[verdict.reason],
            "signature_key_whitespace",
            "the signing key has surrounding whitespace; the handler strips it, so it accepts "
            "this request",
            verdict.explanation,
            _NEXT_STEP[verdict.reason],
        )
    elif not verdict.ok:
        check.add(
            _VERDICT_SEVERITY[verdict.reason],
            f"signature_{verdict.reason}",
            f"signature check failed: {verdict.reason.replace('_', ' ')}",
            verdict.explanation,
            _NEXT_STEP[verdict.reason],
        )


def verify_report(
    request: CapturedRequest,
    keys: list[tuple[str, str]],
    max_age_s: int,
    now: int | None = None,
) -> Report:
    report = Report("webhook verify")
    now = int(time.time()) if now is None else now
    with running_check("signature") as check:
        verdict_check(check, verify(request.headers, request.body, keys, now, max_age_s))
    report.checks.append(check)
    with running_check("events") as events:
        ts = header(request.headers, TIMESTAMP_HEADER)
        delivered = int(ts) if ts and ts.strip().isdigit() else None
        webhook_events.analyse(events, request.body, delivered)
    report.checks.append(events)
    return report


def send_signed(url: str, body: bytes, key: str, timeout: float) -> dict[str, object]:
    """POST `body` to `url` signed now with `key`; returns status, latency and answer."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-CIO-Timestamp": str(timestamp),
        "X-CIO-Signature": sign(key, timestamp, body),
        "User-Agent": "cio-doctor-replay",
    }
    start = time.perf_counter()
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return {
            "status": None,
            "latency_ms": round((time.perf_counter() - start) * 1000, 1),
            "error": f"{type(exc).__name__}",
        }
    return {
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - start) * 1000, 1),
        "answer": response.text[:300],
    }


ACCEPTED, QUARANTINED, NOT_ACCEPTED = "accepted", "quarantined", "not_accepted"


def _outcome(result: dict[str, object]) -> str:
    """What the handler did with a replayed event. It answers 202 `{"status": "quarantined"}`
    when it does not recognise the event (it must not answer an error, or Customer.io would
    retry and hold back every later webhook): a 2xx, but the event went back to quarantine."""
    status = result.get("status")
    if not isinstance(status, int) or not 200 <= status < 300:
        return NOT_ACCEPTED
    try:
        answer = json.loads(str(result.get("answer") or ""))
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("status") == QUARANTINED:
        return QUARANTINED
    return ACCEPTED


def replay_check(
    check: Check,
    url: str,
    bodies: list[tuple[str, bytes]],
    key: str,
    timeout: float,
    env_name: str | None = None,
) -> list[str]:
    """Send each (label, body) signed; one row per send; returns each one's outcome
    (ACCEPTED, QUARANTINED or NOT_ACCEPTED)."""
    rows: list[dict[str, object]] = []
    outcomes: list[str] = []
    for label, body in bodies:
        result = send_signed(url, body, key, timeout)
        outcome = _outcome(result)
        rows.append({"event": label, **result, "outcome": outcome})
        outcomes.append(outcome)
    check.data["url"] = url
    check.data["sent"] = rows
    failed = [r for r in rows if r["outcome"] == NOT_ACCEPTED]
    if failed:
        check.add(
            Severity.HIGH,
            "replay_rejected",
            f"{len(failed)} of {len(rows)} replayed event(s) not accepted",
            "; ".join(f"{r['event']}: {r.get('status') or r.get('error')}" for r in failed[:5]),
            "Read the handler's logs for these events; a 401 means the handler's signing "
            "key differs from the one used here.",
        )
    again = [r for r in rows if r["outcome"] == QUARANTINED]
    if again:
        check.add(
            Severity.MEDIUM,
            "replay_quarantined_again",
            f"{len(again)} of {len(rows)} replayed event(s) were quarantined again",
            "The handler answered 202 quarantined: it still does not recognise them ("
            + "; ".join(f"{r['event']}: {_reason(r)}" for r in again[:5])
            + "). A new copy is in the quarantine subscription.",
            "Replaying will not help until the handler's event catalog (cio_shared.webhooks) "
            "knows these events; read them with `cio-doctor dlq list --subscription "
            f"webhook-quarantine{f' --env {env_name}' if env_name else ''}`.",
        )
    slow = [r for r in rows if isinstance(r["latency_ms"], float) and r["latency_ms"] > 4000]
    if slow:
        check.add(
            Severity.HIGH,
            "handler_slow",
            f"{len(slow)} answer(s) took more than 4 s",
            "Customer.io gives up after 4 s and backlogs every later webhook.",
            "Make the handler answer before doing slow work.",
        )
    return outcomes


def _reason(row: dict[str, object]) -> str:
    try:
        answer = json.loads(str(row.get("answer") or ""))
    except ValueError:
        return "no reason given"
    return str(answer.get("reason") or "no reason given") if isinstance(answer, dict) else "?"
