"""The coalescer for handlers served by functions-framework's ASGI server (one event loop).

The same batches as `batching.Coalescer` (same limits, window, budget and refusal), for
deliveries that are coroutines on one event loop instead of threads: joining a batch needs no
lock, a member waits on a future of its own, and the leader waits for the budget and the window
with `asyncio` sleeps, so no thread is held by a waiting delivery. Only the batch's HTTP call,
which blocks, runs on a thread (`run`, one hand-off per batch rather than per delivery).

A member's future is its own, so a cancelled delivery never cancels its neighbours; the leader
answers every member whatever happens to the batch (sent, refused, failed or cancelled).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic

from cio_shared.delivery.batching import BatchLimits, R

Run = Callable[[Callable[[list[bytes]], Sequence[R]], list[bytes]], Awaitable[Sequence[R]]]


class _AsyncBatch(Generic[R]):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.items: list[bytes] = []
        self.size = 0
        self.closed = False
        self.full: asyncio.Future[None] = loop.create_future()
        self.members: list[asyncio.Future[None]] = []  # answered once the batch is
        self.results: Sequence[R] = ()
        self.error: BaseException | None = None


class AsyncCoalescer(BatchLimits[R]):
    """`submit` is awaited by each delivery; `admit` is a coroutine function (the budget's
    token, `TokenBucket.acquire_async`); `run(send, items)` runs the blocking `send` off the
    event loop and returns its results."""

    def __init__(
        self,
        send: Callable[[list[bytes]], Sequence[R]],
        run: Run[R],
        max_items: int,
        max_wait: float,
        max_bytes: int,
        admit: Callable[[], Awaitable[bool]] | None = None,
        refuse: Callable[[list[bytes]], Sequence[R]] | None = None,
    ) -> None:
        super().__init__(send, max_items, max_wait, max_bytes, admit, refuse)
        self._run = run
        self._open: _AsyncBatch[R] | None = None

    async def submit(self, item: bytes) -> R:
        size = self.item_size(item)
        batch = self._open
        if batch is not None and batch.size + size > self.max_bytes:
            self._close(batch)
            batch = None
        leader = batch is None
        if batch is None:
            batch = self._open = _AsyncBatch(asyncio.get_running_loop())
        else:
            answered = batch.full.get_loop().create_future()
            batch.members.append(answered)
        index = len(batch.items)
        batch.items.append(item)
        batch.size += size
        if len(batch.items) >= self.max_items:
            self._close(batch)
        if leader:
            await self._lead(batch)
        else:
            await answered
        if batch.error is not None:
            raise RuntimeError("the batch this item was part of failed to send") from batch.error
        return batch.results[index]

    def _close(self, batch: _AsyncBatch[R]) -> None:
        """No item joins `batch` after this."""
        batch.closed = True
        if self._open is batch:
            self._open = None
        if not batch.full.done():
            batch.full.set_result(None)

    async def _lead(self, batch: _AsyncBatch[R]) -> None:
        window_end = time.monotonic() + self.max_wait
        try:
            # The batch stays open while its request waits for the budget (members keep joining).
            admitted = await self._admit() if self._admit is not None else True
            if admitted and (remaining := window_end - time.monotonic()) > 0:
                await asyncio.wait((batch.full,), timeout=remaining)
            self._close(batch)
            if admitted or self._refuse is None:
                results = await self._run(self._send, batch.items)
            else:
                results = self._refuse(batch.items)
            batch.results = self.checked(results, batch.items)
        except BaseException as exc:  # members must never hang: they all see the failure
            self._close(batch)
            batch.error = exc
            if not isinstance(exc, Exception):  # cancelled: the leader's own request ends
                raise
        finally:
            for answered in batch.members:
                if not answered.done():  # a member cancelled meanwhile has nothing to wait for
                    answered.set_result(None)
