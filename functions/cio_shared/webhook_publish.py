"""Publish webhook events and wait for Pub/Sub's answer within a bounded time.

Customer.io waits 4 seconds for our answer, so every publish is bounded by `timeout` (retries
included); past it the caller answers an error and Customer.io retries later. The client's
default batching waits up to 10 ms to fill a batch; one webhook request publishes one message
and then waits for it, so we wait at most 1 ms (concurrent requests still share batches).
Locally and in tests the same client talks to the Pub/Sub emulator (`PUBSUB_EMULATOR_HOST`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

MAX_BATCH_LATENCY_SECONDS = 0.001


class PublishError(RuntimeError):
    """Pub/Sub did not confirm the message in time (the message names the topic, not the data)."""


@cache
def _publisher() -> Any:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    settings = pubsub_v1.types.BatchSettings(max_latency=MAX_BATCH_LATENCY_SECONDS)
    return pubsub_v1.PublisherClient(batch_settings=settings)


def publish(topic: str, data: bytes, attributes: Mapping[str, str], timeout: float) -> str:
    """Publish and wait; returns the message id or raises PublishError."""
    from google.api_core.retry import Retry

    retry = Retry(
        predicate=_retryable,
        initial=0.05,
        maximum=0.5,
        multiplier=2.0,
        timeout=timeout,
    )
    try:
        future = _publisher().publish(topic, data, retry=retry, timeout=timeout, **attributes)
        return str(future.result(timeout=timeout))
    except Exception as exc:  # API errors, timeouts, transport errors: all mean "not confirmed"
        raise PublishError(f"publish to {topic} failed: {type(exc).__name__}") from exc


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
