"""Publish one webhook event and wait for Pub/Sub's answer, within a bounded time.

Customer.io waits 4 seconds for our answer, so every publish is bounded by `timeout` (retries
included); past it the caller answers an error and Customer.io retries later.

A webhook request publishes exactly one message and must know it is stored before answering,
so this calls the Publish RPC directly with the official generated client
(`google.pubsub_v1.PublisherClient`, which honours `PUBSUB_EMULATOR_HOST` itself) instead of
the batching front end (`google.cloud.pubsub_v1`): that one starts a commit thread per batch
and waits for a batch timer, which cost more than all the rest of the handler (measured with
bench/bench_webhook.py: 8 ms -> 4 ms per request against the emulator).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any


class PublishError(RuntimeError):
    """Pub/Sub did not confirm the message in time (the message names the topic, not the data)."""


@cache
def _client(emulator_host: str | None) -> Any:
    """One client per process (per emulator, so tests that switch emulators get a fresh one)."""
    from google.pubsub_v1 import PublisherClient

    return PublisherClient()


def publish(topic: str, data: bytes, attributes: Mapping[str, str], timeout: float) -> str:
    """Publish and wait; returns the message id or raises PublishError."""
    from google.api_core.retry import Retry
    from google.pubsub_v1 import PubsubMessage

    retry = Retry(predicate=_retryable, initial=0.05, maximum=0.5, multiplier=2.0, timeout=timeout)
    message = PubsubMessage(data=data, attributes=dict(attributes))
    try:
        response = _client(os.environ.get("PUBSUB_EMULATOR_HOST")).publish(
            topic=topic, messages=[message], retry=retry, timeout=timeout
        )
    except Exception as exc:  # API errors, deadlines, transport errors: all mean "not confirmed"
        raise PublishError(f"publish to {topic} failed: {type(exc).__name__}") from exc
    return str(response.message_ids[0])


def _retryable(exc: Exception) -> bool:
    from google.api_core import exceptions

    return isinstance(
        exc,
        exceptions.ServiceUnavailable
        | exceptions.DeadlineExceeded
        | exceptions.InternalServerError
        | exceptions.Aborted
        | exceptions.ResourceExhausted,
    )
