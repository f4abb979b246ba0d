"""Customer.io reporting-webhook signatures: sign, verify, and say exactly why one fails.

Customer.io signs `v0:<X-CIO-Timestamp>:<raw body>` with HMAC-SHA256 keyed by the webhook
signing key and sends the hex digest in `X-CIO-Signature`. A failed verification is
diagnosed by trying the usual culprits: a missing header, a stale timestamp, a key with
stray whitespace, a previous (rotated) key, and bodies changed by re-serialization or a
trailing newline on the way to us.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cio_shared.webhooks import (
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_MAX_FUTURE_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class Verdict:
    """`reason` is a machine code: ok, header_missing, timestamp_invalid, signature_malformed,
    stale_timestamp, wrong_key, body_altered, key_whitespace."""

    ok: bool
    reason: str
    explanation: str
    key_used: str | None = None
    age_seconds: int | None = None


def _re_serialized(body: bytes) -> list[tuple[str, bytes]]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    return [
        ("JSON re-serialized compactly", json.dumps(parsed, separators=(",", ":")).encode()),
        ("JSON re-serialized with spaces", json.dumps(parsed).encode()),
        ("JSON re-serialized with sorted keys", json.dumps(parsed, sort_keys=True).encode()),
        ("JSON re-serialized with indentation", json.dumps(parsed, indent=2).encode()),
        (
            "JSON re-serialized without ASCII escaping",
            json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode(),
        ),
    ]


def _body_variants(body: bytes) -> list[tuple[str, bytes]]:
    """Bodies Customer.io may have signed, if ours was changed on the way (label, bytes)."""
    variants = [
        ("a trailing newline was added", body.rstrip(b"\r\n")),
        ("a trailing newline was removed", body + b"\n"),
        ("line endings were converted", body.replace(b"\r\n", b"\n")),
        ("surrounding whitespace was added", body.strip()),
        *_re_serialized(body),
    ]
    return [(label, b) for label, b in variants if b != body]


def verify(
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[tuple[str, str]],
    now: int,
    max_age_s: int = DEFAULT_MAX_AGE_SECONDS,
    max_future_s: int = DEFAULT_MAX_FUTURE_SECONDS,
) -> Verdict:
    """Verify a captured request against `keys` ((label, key) pairs, current key first).

    The timestamp window defaults to the webhook handler's (cio_shared.webhooks.signature):
    Customer.io retries for seven days and does not document whether a retry is re-stamped.
    """
    signature = header(headers, SIGNATURE_HEADER)
    timestamp = header(headers, TIMESTAMP_HEADER)
    missing = [
        n for n, v in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)) if not v
    ]
    if missing or signature is None or timestamp is None:
        return Verdict(
            False,
            "header_missing",
            f"header {' and '.join(missing)} missing: the request was not signed by "
            "Customer.io, or a proxy dropped the header",
        )
    signature, timestamp = signature.strip(), timestamp.strip()
    if not timestamp.isdigit():
        return Verdict(
            False, "timestamp_invalid", f"{TIMESTAMP_HEADER} is not a Unix timestamp in seconds"
        )
    if not _HEX64.match(signature):
        return Verdict(
            False,
            "signature_malformed",
            f"{SIGNATURE_HEADER} is not 64 hex characters (an HMAC-SHA256 hex digest); "
            "a prefix such as 'sha256=' or a truncated value",
        )
    age = now - int(timestamp)

    def matches(key: str, candidate: bytes) -> bool:
        return hmac.compare_digest(sign(key, timestamp, candidate), signature.lower())

    found = _first_match(keys, body, matches)
    if found is not None:
        label = found
        if age > max_age_s or -age > max_future_s:
            direction, limit = ("old", max_age_s) if age > 0 else ("in the future", max_future_s)
            return Verdict(
                False,
                "stale_timestamp",
                f"signature is valid ({label} key) but the timestamp is {abs(age)} s "
                f"{direction}, beyond the handler's {limit} s window: a replayed request, "
                "or a clock out of sync",
                label,
                age,
            )
        return Verdict(True, "ok", f"signature valid with the {label} key", label, age)
    return _diagnose(keys, body, matches, age)


def _first_match(
    keys: Sequence[tuple[str, str]], body: bytes, matches: Callable[[str, bytes], bool]
) -> str | None:
    return next((label for label, key in keys if matches(key, body)), None)


def _diagnose(
    keys: Sequence[tuple[str, str]],
    body: bytes,
    matches: Callable[[str, bytes], bool],
    age: int,
) -> Verdict:
    for label, key in keys:
        stripped = key.strip()
        if stripped != key and matches(stripped, body):
            return Verdict(
                False,
                "key_whitespace",
                f"the {label} key has leading/trailing whitespace (often a newline from "
                "the secret file); without it the signature is valid",
                label,
                age,
            )
    for change, candidate in _body_variants(body):
        matched = _first_match(keys, candidate, matches)
        if matched is not None:
            return Verdict(
                False,
                "body_altered",
                f"body altered after signing: {change} (the {matched} key matches the "
                "original); verify the raw request bytes, never re-encoded JSON",
                matched,
                age,
            )
    return Verdict(
        False,
        "wrong_key",
        "no configured key matches this body and timestamp: the signing key is wrong "
        "(each reporting webhook has its own key; check it was not rotated) or the "
        "body was changed in a way that cannot be reconstructed",
        None,
        age,
    )
