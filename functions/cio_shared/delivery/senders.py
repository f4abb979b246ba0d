"""Turn one encoded v2 operation (or Pipelines call) into an Outcome: per-event or micro-batched.

Both senders take a token from the instance's bucket before every HTTP request, and answer
`retry` (reason `local_rate_limit`) when the wait would exceed its bound. Every 429 is
reported to the bucket (`throttled`, with its Retry-After), which adapts the instance's rate.
"""

from __future__ import annotations

from typing import Protocol

from cio_shared.delivery.async_batching import AsyncCoalescer
from cio_shared.delivery.batching import Coalescer
from cio_shared.delivery.blocking import run_blocking
from cio_shared.delivery.decisions import Outcome, from_status, permanent, retry, transport_error
from cio_shared.delivery.pipelines import MAX_BATCH_BYTES as PIPELINES_BATCH_BYTES
from cio_shared.delivery.pipelines import PipelinesClient, has_context
from cio_shared.delivery.pipelines_guard import GuardedSender, ledger_for
from cio_shared.delivery.rate_limit import TokenBucket
from cio_shared.delivery.settings import Settings
from cio_shared.delivery.track_client import TrackClient, TransportError
from cio_shared.messages import MAX_BATCH_BYTES

# `{"batch":[` + `]}` around the items
_BATCH_OVERHEAD = 12


class Sender(Protocol):
    def send(self, operation: bytes) -> Outcome: ...

    async def send_async(self, operation: bytes) -> Outcome:
        """`send` for a coroutine delivery (functions-framework's ASGI server)."""
        ...


class SingleSender:
    """One `/api/v2/entity` request per operation."""

    def __init__(self, client: TrackClient, bucket: TokenBucket, max_wait: float) -> None:
        self.client = client
        self.bucket = bucket
        self.max_wait = max_wait

    def send(self, operation: bytes) -> Outcome:
        if not self.bucket.acquire(self.max_wait):
            return _throttled(self.max_wait)
        return self.post(operation)

    async def send_async(self, operation: bytes) -> Outcome:
        """The token is awaited on the loop; only the HTTP request takes a thread."""
        if not await self.bucket.acquire_async(self.max_wait):
            return _throttled(self.max_wait)
        return await run_blocking(self.post, operation)

    def post(self, operation: bytes) -> Outcome:
        """Send with a token already taken."""
        try:
            response = self.client.send_entity(operation)
        except TransportError as exc:
            return transport_error(exc.reason, exc.detail)
        if response.status == 429:
            self.bucket.throttled(response.retry_after)
        return from_status(response.status, response.summary)


class BatchSender:
    """Coalesces concurrent `send` calls into `/api/v2/batch` requests."""

    def __init__(self, single: SingleSender, max_items: int, max_wait: float) -> None:
        self.single = single
        self.coalescer: Coalescer[Outcome] = Coalescer(
            self._send_batch,
            max_items=max_items,
            max_wait=max_wait,
            max_bytes=MAX_BATCH_BYTES - _BATCH_OVERHEAD,
            admit=self._admit,
            refuse=self._refuse,
        )
        self.async_coalescer: AsyncCoalescer[Outcome] = AsyncCoalescer(
            self._send_batch,
            run_blocking,
            max_items=max_items,
            max_wait=max_wait,
            max_bytes=MAX_BATCH_BYTES - _BATCH_OVERHEAD,
            admit=self._admit_async,
            refuse=self._refuse,
        )

    def send(self, operation: bytes) -> Outcome:
        return self.coalescer.submit(operation)

    async def send_async(self, operation: bytes) -> Outcome:
        return await self.async_coalescer.submit(operation)

    def _admit(self) -> bool:
        """The batch's token (its leader waits for it with the batch still open)."""
        return self.single.bucket.acquire(self.single.max_wait)

    async def _admit_async(self) -> bool:
        return await self.single.bucket.acquire_async(self.single.max_wait)

    def _refuse(self, items: list[bytes]) -> list[Outcome]:
        return [_throttled(self.single.max_wait)] * len(items)

    def _send_batch(self, items: list[bytes]) -> list[Outcome]:
        """Called by the leader with the batch's token taken."""
        if len(items) == 1:
            return [self.single.post(items[0])]
        try:
            response = self.single.client.send_batch(items)
        except TransportError as exc:
            return [transport_error(exc.reason, exc.detail)] * len(items)
        if response.status == 429:
            self.single.bucket.throttled(response.retry_after)
        mapped = [e for e in response.item_errors if 0 <= e.index < len(items)]
        if response.status in (400, 413) or (response.status == 207 and not mapped):
            # The whole batch was refused for its content (or a 207 did not say which item):
            # find the culprit one by one, so a bad operation never fails its healthy neighbours.
            return [self.single.send(item) for item in items]
        outcome = from_status(response.status, response.summary)
        outcomes = [outcome] * len(items)
        for error in mapped if response.status == 207 else []:
            outcomes[error.index] = permanent(
                "rejected_400", f"batch item rejected: {error.reason} {error.field}".strip(), 207
            )
        return outcomes


class PipelinesBatchSender(BatchSender):
    """`/v1/batch` for the Pipelines API: as the Track batch (a strict-mode 400 resends the calls
    one by one), except that a call with its own `context` (device events) goes alone, since a
    batch's `context` applies to every call in it."""

    def __init__(self, single: SingleSender, max_items: int, max_wait: float) -> None:
        super().__init__(single, max_items, max_wait)
        self.coalescer.max_bytes = PIPELINES_BATCH_BYTES - _BATCH_OVERHEAD
        self.async_coalescer.max_bytes = self.coalescer.max_bytes

    def send(self, operation: bytes) -> Outcome:
        if has_context(operation):
            return self.single.send(operation)
        return self.coalescer.submit(operation)

    async def send_async(self, operation: bytes) -> Outcome:
        if has_context(operation):
            return await self.single.send_async(operation)
        return await self.async_coalescer.submit(operation)


def build_sender(settings: Settings, client: TrackClient) -> Sender:
    """The instance's sender for its client: Track API (`TrackClient`) or Pipelines API
    (`PipelinesClient`, behind its guards: pipelines_guard), per event or batched, sharing
    one token bucket."""
    bucket = TokenBucket(settings.rate_limit_per_second, adaptive=settings.rate_limit_adaptive)
    single = SingleSender(client, bucket, settings.rate_limit_max_wait_ms / 1000)
    pipelines = isinstance(client, PipelinesClient)
    sender: Sender = single
    if settings.batch_enabled:
        batch = PipelinesBatchSender if pipelines else BatchSender
        sender = batch(single, settings.batch_max_items, settings.batch_max_wait_ms / 1000)
    if not pipelines:
        return sender
    wait = settings.batch_max_wait_ms / 1000 if settings.batch_enabled else 0.0
    return GuardedSender(
        sender,
        ledger_for(settings),
        settings.unknown_outcome,
        max_items=settings.batch_max_items,
        max_wait=wait,
    )


def _throttled(max_wait: float) -> Outcome:
    return retry(
        "local_rate_limit", f"instance request budget exhausted for more than {max_wait:g}s"
    )
