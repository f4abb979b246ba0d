"""Signature test vectors over HTTP: signatures computed independently in the test, for every
example payload in Customer.io's reporting-webhook document, and every way to get it wrong."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from tests.webhook.support import (
    KEY,
    PREVIOUS_KEY,
    Topics,
    document_examples,
    encode,
    event,
    example_payloads,
    handler_client,
    nothing_published,
    pull,
    signature,
    signed_headers,
)

pytestmark = pytest.mark.integration

EXAMPLES = example_payloads()


def test_every_published_example_and_every_event_schema_has_an_example() -> None:
    assert set(document_examples()) <= set(EXAMPLES)
    assert len(EXAMPLES) >= 60


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_is_accepted_and_published(client, topics: Topics, name: str) -> None:
    payload = EXAMPLES[name]
    body = encode(payload)
    # The examples are from 2021: sign them "now" as a fresh delivery would be.
    response = client.post("/", data=body, headers=signed_headers(body))
    assert response.status_code == 200, response.json
    assert response.json == {"status": "accepted", "event_id": payload["event_id"]}
    [message] = pull(topics.events_subscription, expected=1)
    object_type = payload.get("object_type", payload.get("object_type_type"))
    assert dict(message.attributes) == {
        "object_type": object_type,
        "metric": payload["metric"],
        "event_id": payload["event_id"],
        "environment": "test",
    }
    row = json.loads(message.data)
    assert row["data"] == payload["data"]
    assert row["timestamp"] == rfc3339(payload["timestamp"])


def rfc3339(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat().replace("+00:00", "Z")


def test_the_test_signer_matches_a_vector_computed_with_openssl() -> None:
    """`printf 'v0:1700000000:{"x":1}' | openssl dgst -sha256 -hmac k`: the signer every test
    here uses is Customer.io's documented construction, not the handler's code."""
    expected = "c747bd43e143fa15b5414a329d0ee32962ba29830fcdc4092e4e83ceda635fbd"
    assert signature("k", "1700000000", b'{"x":1}') == expected


def test_a_document_example_verifies_at_its_own_timestamp(topics: Topics) -> None:
    """The email_sent example exactly as documented (timestamp 1613063089), with a window wide
    enough to reach 2021."""
    payload = document_examples()["email_sent"]
    body = encode(payload)
    headers = signed_headers(body, timestamp=payload["timestamp"])
    years = str(int(time.time()) - payload["timestamp"] + 3600)
    with handler_client({**topics.env(), "CIO_WEBHOOK_MAX_AGE_SECONDS": years}) as client:
        assert client.post("/", data=body, headers=headers).status_code == 200


def _post(client, body: bytes, headers: dict[str, str]):
    return client.post("/", data=body, headers=headers)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b, signed_headers(b, key="not-the-key")), id="wrong-key"),
        pytest.param(
            lambda b, h: (b, {**h, "X-CIO-Timestamp": str(int(h["X-CIO-Timestamp"]) - 1)}),
            id="wrong-timestamp",
        ),
        pytest.param(lambda b, h: (b[:-1] + b" ", h), id="body-last-byte-changed"),
        pytest.param(lambda b, h: (b + b" ", h), id="body-one-byte-appended"),
        pytest.param(
            lambda b, h: (b, {"X-CIO-Timestamp": h["X-CIO-Timestamp"]}), id="no-signature"
        ),
        pytest.param(
            lambda b, h: (b, {"X-CIO-Signature": h["X-CIO-Signature"]}), id="no-timestamp"
        ),
        pytest.param(lambda b, h: (b, {}), id="no-headers"),
        pytest.param(lambda b, h: (b, {**h, "X-CIO-Signature": ""}), id="empty-signature"),
        pytest.param(
            lambda b, h: (b, {**h, "X-CIO-Signature": h["X-CIO-Signature"][:-1]}), id="truncated"
        ),
        pytest.param(lambda b, h: (b, {**h, "X-CIO-Timestamp": "17e8"}), id="timestamp-not-digits"),
        pytest.param(
            lambda b, h: (b, {**h, "X-CIO-Signature": "sha256=" + h["X-CIO-Signature"]}),
            id="prefixed-signature",
        ),
    ],
)
def test_anything_wrong_is_401_and_nothing_is_published(client, topics: Topics, tamper) -> None:
    body = encode(event())
    body, headers = tamper(body, signed_headers(body))
    response = _post(client, body, headers)
    assert response.status_code == 401
    assert nothing_published(topics.events_subscription)
    assert nothing_published(topics.quarantine_subscription)


def test_a_byte_changed_anywhere_in_a_document_example_fails(client) -> None:
    body = encode(document_examples()["email_sent"])
    headers = signed_headers(body)
    for position in (0, len(body) // 2, len(body) - 1):
        changed = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1 :]
        assert _post(client, changed, headers).status_code == 401


def test_verification_uses_the_raw_bytes_not_a_reserialized_body(client, topics: Topics) -> None:
    # Same JSON value, different bytes: whitespace, key order and escapes all signed as sent.
    body = (
        b'{ "timestamp": %d, "metric":"sent" ,"object_type":"email",\n "event_id":"01RAW",'
        % (int(time.time()))
        + b'"data":{"subject":"caf\\u00e9"}}'
    )
    assert _post(client, body, signed_headers(body)).status_code == 200
    reserialized = json.dumps(json.loads(body)).encode()
    assert _post(client, reserialized, signed_headers(body)).status_code == 401


@pytest.mark.parametrize(
    "names",
    [
        ("x-cio-timestamp", "x-cio-signature"),
        ("X-CIO-TIMESTAMP", "X-CIO-SIGNATURE"),
        ("X-Cio-Timestamp", "X-Cio-Signature"),
    ],
)
def test_header_names_are_case_insensitive(client, names: tuple[str, str]) -> None:
    body = encode(event())
    headers = signed_headers(body)
    renamed = {names[0]: headers["X-CIO-Timestamp"], names[1]: headers["X-CIO-Signature"]}
    assert _post(client, body, renamed).status_code == 200


def test_an_upper_case_hex_signature_is_accepted(client) -> None:
    body = encode(event())
    headers = signed_headers(body)
    headers["X-CIO-Signature"] = headers["X-CIO-Signature"].upper()
    assert _post(client, body, headers).status_code == 200


def test_rotation_accepts_the_previous_key_only_while_configured(topics: Topics) -> None:
    body = encode(event())
    old = signed_headers(body, key=PREVIOUS_KEY)
    with handler_client(
        {**topics.env(), "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS": PREVIOUS_KEY}
    ) as client:
        assert _post(client, body, old).status_code == 200
        assert _post(client, body, signed_headers(body, key=KEY)).status_code == 200
    with handler_client({**topics.env(), "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS": ""}) as client:
        assert _post(client, body, old).status_code == 401


def test_a_timestamp_in_the_future_beyond_clock_skew_is_401(client) -> None:
    body = encode(event())
    now = int(time.time())
    assert _post(client, body, signed_headers(body, timestamp=now + 3600)).status_code == 401
    assert _post(client, body, signed_headers(body, timestamp=now + 60)).status_code == 200


def test_the_window_covers_seven_days_of_retries_and_no_more(client) -> None:
    body = encode(event())
    now = int(time.time())
    seven_days = 7 * 24 * 3600
    assert _post(client, body, signed_headers(body, timestamp=now - seven_days)).status_code == 200
    assert (
        _post(client, body, signed_headers(body, timestamp=now - 2 * seven_days)).status_code == 401
    )


def test_the_window_is_configurable(topics: Topics) -> None:
    body = encode(event())
    hour_old = signed_headers(body, timestamp=int(time.time()) - 3600)
    with handler_client({**topics.env(), "CIO_WEBHOOK_MAX_AGE_SECONDS": "600"}) as client:
        assert _post(client, body, hour_old).status_code == 401


def test_other_methods_are_405(client) -> None:
    for method in ("get", "put", "delete", "patch"):
        response = getattr(client, method)("/")
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"


def test_bodies_over_the_cap_are_413_and_under_it_accepted(topics: Topics) -> None:
    with handler_client({**topics.env(), "CIO_WEBHOOK_MAX_BODY_BYTES": "4096"}) as client:
        small = encode(event(content="x" * 3000))
        assert _post(client, small, signed_headers(small)).status_code == 200
        big = encode(event(content="x" * 5000))
        assert _post(client, big, signed_headers(big)).status_code == 413
    assert nothing_published(topics.quarantine_subscription)


def test_the_default_cap_takes_a_sent_event_carrying_a_large_email_body(client) -> None:
    """1 MiB by default (concurrency x cap must fit in memory: test_body_cap_rule.py): nine
    times Gmail's 102 KB clipping point. A larger signed event is 413, and Customer.io retries
    it: raise the memory, then the cap, if your emails are larger (functions/webhook/README.md)."""
    body = encode(event(content="<p>" + "lorem ipsum " * 75_000 + "</p>"))  # ~900 KB
    assert _post(client, body, signed_headers(body)).status_code == 200
    over = encode(event(content="<p>" + "lorem ipsum " * 90_000 + "</p>"))  # ~1.08 MB
    assert _post(client, over, signed_headers(over)).status_code == 413
