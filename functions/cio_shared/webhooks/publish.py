"""Publish webhook events and wait for Pub/Sub's answer, within a bounded time: group commit.

Customer.io waits 4 seconds for our answer, so every publish is bounded by `timeout` (retries
included); past it the caller answers an error and Customer.io retries later.

A webhook request must know its event is stored before answering, so this calls the Publish
RPC directly with the official generated client (`google.pubsub_v1.PublisherClient`, which
honours `PUBSUB_EMULATOR_HOST` itself) instead of the batching front end
(`google.cloud.pubsub_v1`): that one starts a commit thread per batch and waits for a batch
timer, which cost more than all the rest of the handler (bench/bench_webhook.py: 8 ms -> 4 ms
per request against the emulator). The call itself goes through the client's gRPC channel with
the raw protobuf messages (`_DirectPublisher`): the generated method's layers (proto-plus
marshalling of every message, the wrapper that adds metadata, retry and timeout) were most of
the handler's own CPU; the same metadata, retry policy and deadline are applied here.

Group commit: concurrent requests of one instance share Publish calls. A request that finds no
Publish in flight to its topic sends its own message at once (nothing ever waits for a timer);
requests that arrive while one is in flight queue, and when it returns the first of them sends
everything queued in one Publish call and hands each request its own message id. So with one
request at a time a request costs one call, and under concurrency a call carries as many
messages as arrived during the previous one. Each request keeps its own deadline: one whose
time runs out while queued leaves the queue and fails (nothing was sent for it); a call's
timeout is the earliest deadline among its messages.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

# One Publish request: Pub/Sub allows 1,000 messages and 10 MB (cloud.google.com/pubsub/quotas);
# a webhook body is at most 1 MiB, so a call stops short of both.
MAX_CALL_MESSAGES = 100
MAX_CALL_BYTES = 8 * 1024 * 1024
# How long past its deadline a request waits for the call it is in (whose timeout is the
# earliest deadline of its messages) before answering without it.
_GRACE_SECONDS = 0.5


class PublishError(RuntimeError):
    """Pub/Sub did not confirm the message in time (the message names the topic, not the data)."""


@dataclass(frozen=True)
class Published:
    """A confirmed message: its id, and how many messages its Publish call carried."""

    message_id: str
    call_messages: int


@dataclass(eq=False)
class _Pending:
    message: Any
    size: int
    deadline: float
    wake: threading.Event = field(default_factory=threading.Event)  # answered, or to lead
    lead: bool = False  # set when this request is to send the next call
    result: Published | None = None
    error: PublishError | None = None


class _Topic:
    """The queue of one topic: at most one Publish call in flight."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.lock = threading.Lock()
        self.queue: list[_Pending] = []
        self.busy = False


class _DirectPublisher:
    """The Publish RPC on the generated client's own channel (credentials, endpoint, emulator as
    it configures them), called with raw protobuf messages: what `PublisherClient.publish` sends
    (the same request, routing and client metadata), without its per-call layers. gRPC errors
    become `google.api_core` exceptions (`NotFound`, `ServiceUnavailable`...), as from it."""

    def __init__(self) -> None:
        from google.pubsub_v1 import PublisherClient, PublishRequest, PublishResponse
        from google.pubsub_v1.services.publisher.transports.base import DEFAULT_CLIENT_INFO

        self._client = PublisherClient()  # owns the channel
        self._request = PublishRequest.pb()
        self._client_metadata = DEFAULT_CLIENT_INFO.to_grpc_metadata()
        transport: Any = self._client.transport  # the gRPC transport (the default)
        self._rpc = transport.grpc_channel.unary_unary(
            "/google.pubsub.v1.Publisher/Publish",
            request_serializer=self._request.SerializeToString,
            response_deserializer=PublishResponse.pb().FromString,
        )

    def publish(self, *, topic: str, messages: list[Any], retry: Any, timeout: float) -> Any:
        """One Publish of `messages` (raw `PubsubMessage`s); `retry` (an api_core Retry) within
        `timeout` seconds in all. Returns the raw `PublishResponse`."""
        import grpc
        from google.api_core.exceptions import DeadlineExceeded, from_grpc_error
        from google.api_core.gapic_v1.routing_header import to_grpc_metadata

        request = self._request(topic=topic, messages=messages)
        metadata = (to_grpc_metadata((("topic", topic),)), self._client_metadata)
        deadline = time.monotonic() + timeout

        def attempt() -> Any:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded("publish deadline passed")
            try:
                return self._rpc(request, timeout=remaining, metadata=metadata)
            except grpc.RpcError as exc:
                raise from_grpc_error(exc) from exc

        return retry(attempt)()


@cache
def _client(emulator_host: str | None) -> Any:
    """One client per process (per emulator, so tests that switch emulators get a fresh one)."""
    return _DirectPublisher()


_topics: dict[tuple[str | None, str], _Topic] = {}
_topics_lock = threading.Lock()


def _queue(emulator_host: str | None, topic: str) -> _Topic:
    key = (emulator_host, topic)
    found = _topics.get(key)
    if found is None:
        with _topics_lock:
            found = _topics.setdefault(key, _Topic(topic))
    return found


def publish(topic: str, data: bytes, attributes: Mapping[str, str], timeout: float) -> str:
    """Publish and wait; returns the message id or raises PublishError."""
    return publish_grouped(topic, data, attributes, timeout).message_id


def publish_grouped(
    topic: str, data: bytes, attributes: Mapping[str, str], timeout: float
) -> Published:
    """Publish (sharing a Publish call with concurrent requests) and wait for the server's ack,
    at most `timeout` seconds; raises PublishError."""
    emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
    queue = _queue(emulator, topic)
    size = len(data) + sum(len(k) + len(v) for k, v in attributes.items())
    mine = _Pending(
        _raw_message()(data=data, attributes=attributes), size, time.monotonic() + timeout
    )
    with queue.lock:
        if queue.busy:
            queue.queue.append(mine)
        else:
            queue.busy = True
            mine.lead = True
    if not mine.lead and not mine.wake.wait(max(0.0, mine.deadline - time.monotonic())):
        with queue.lock:
            queued = mine in queue.queue
            if queued:  # out of time while queued: nothing was sent for this request
                queue.queue.remove(mine)
        if queued:
            raise PublishError(f"publish to {topic} failed: timed out waiting to be sent")
        # In a call whose timeout is the earliest deadline among its messages: it ends now.
        if not mine.wake.wait(_GRACE_SECONDS):
            raise PublishError(f"publish to {topic} failed: no answer in time")
    if mine.result is None and mine.error is None:  # woken to lead: send the next call
        _lead(_client(emulator), queue, mine)
    if mine.error is not None:
        raise mine.error
    assert mine.result is not None
    return mine.result


@cache
def _raw_message() -> Any:
    """The raw protobuf class of `PubsubMessage` (what the Publish call carries)."""
    from google.pubsub_v1 import PubsubMessage

    return PubsubMessage.pb()


def _lead(client: Any, queue: _Topic, mine: _Pending) -> None:
    """Send `mine` and what is queued behind it (up to one call's limits) in one Publish call,
    then hand the topic to the next queued request, or mark it idle."""
    with queue.lock:
        batch, size = [mine], mine.size
        while (
            queue.queue
            and len(batch) < MAX_CALL_MESSAGES
            and size + queue.queue[0].size <= MAX_CALL_BYTES
        ):
            item = queue.queue.pop(0)
            batch.append(item)
            size += item.size
    try:
        _call(client, queue.topic, batch)
    finally:
        with queue.lock:
            if queue.queue:
                successor = queue.queue.pop(0)
                successor.lead = True
                successor.wake.set()  # it sends the next call
            else:
                queue.busy = False


def _call(client: Any, topic: str, batch: list[_Pending]) -> None:
    """One Publish RPC for `batch`; every member gets its id or the error."""
    from google.api_core.retry import Retry

    timeout = min(item.deadline for item in batch) - time.monotonic()
    try:
        if timeout <= 0:
            raise TimeoutError("deadline passed before sending")
        retry = Retry(
            predicate=_retryable, initial=0.05, maximum=0.5, multiplier=2.0, timeout=timeout
        )
        response = client.publish(
            topic=topic, messages=[item.message for item in batch], retry=retry, timeout=timeout
        )
        ids = list(response.message_ids)
        if len(ids) != len(batch):
            raise RuntimeError(f"{len(ids)} message ids for {len(batch)} messages")
    except Exception as exc:  # API errors, deadlines, transport errors: all mean "not confirmed"
        error = PublishError(f"publish to {topic} failed: {type(exc).__name__}")
        error.__cause__ = exc
        for item in batch:
            item.error = error
            item.wake.set()
        return
    for item, message_id in zip(batch, ids, strict=True):
        item.result = Published(str(message_id), len(batch))
        item.wake.set()


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
