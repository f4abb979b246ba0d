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
from typing import Any

from cio_shared.delivery.batching import BatchLimits, BatchState, R

Run = Callable[[Callable[[list[bytes]], Sequence[R]], list[bytes]], Awaitable[Sequence[R]]]


class _AsyncBatch(BatchState[R]):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.full: asyncio.Future[None] = loop.create_future()
        self.members: list[asyncio.Future[None]] = []  # answered once the batch is


class AsyncCoalescer(BatchLimits[R, _AsyncBatch[R]]):
    """`submit` is awaited by each delivery. `run(send, items)` runs the blocking `send` off
    the event loop and returns its results; the other arguments are `BatchLimits`', with
    `admit` a coroutine function (the budget's token, `TokenBucket.acquire_async`)."""

    def __init__(
        self, send: Callable[[list[bytes]], Sequence[R]], run: Run[R], *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(send, *args, **kwargs)
        self._run = run

    async def submit(self, item: bytes) -> R:
        size = self.item_size(item)
        batch = self._joinable(size)
        leader = batch is None
        if batch is None:
            batch = self._open = _AsyncBatch(asyncio.get_running_loop())
        else:
            answered = batch.full.get_loop().create_future()
            batch.members.append(answered)
        index = self._add(batch, item, size)
        if leader:
            await self._lead(batch)
        else:
            await answered
        return self._result(batch, index)

    def _close(self, batch: _AsyncBatch[R]) -> None:
        super()._close(batch)
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
                self._results(batch, await self._run(self._send, batch.items))
            else:
                self._results(batch, self._refuse(batch.items))
        except BaseException as exc:  # members must never hang: they all see the failure
            self._close(batch)
            batch.error = exc
            if not isinstance(exc, Exception):  # cancelled: the leader's own request ends
                raise
        finally:
            for answered in batch.members:
                if not answered.done():  # a member cancelled meanwhile has nothing to wait for
                    answered.set_result(None)
