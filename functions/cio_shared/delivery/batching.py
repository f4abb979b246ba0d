"""Coalesce concurrent deliveries of one instance into Track API `/api/v2/batch` calls.

Here for threads: under functions-framework's WSGI server requests run on gunicorn threads
(the coroutine version for its ASGI server is `async_batching.AsyncCoalescer`), so with
concurrency > 1 several deliveries are in flight at once. Each calls `Coalescer.submit`, which
blocks until its item's outcome is known. No background thread (gunicorn forks after import):
the first thread to find no open batch becomes its *leader*, waits up to `max_wait` for others
to join (or until the batch is full by count or bytes), closes it, sends it and hands every
member its own result.
Several batches can be in flight at once, one per leader.

With `admit` (the instance's request budget), the leader first waits for the request's token
and keeps the batch open meanwhile: when the budget is what limits, a batch fills for as long
as its request has to wait anyway, so each request carries as many operations as arrived in
that time instead of queueing many small batches behind the budget. `admit` returning False
(the wait would exceed its bound) closes the batch and answers every member `refuse(items)`.

A member waits on a lock of its own, taken when it joins and released by the leader once the
results are in: a batch's answer wakes each member once, instead of every member waking on one
Event and then queueing for its Condition's lock (measured with bench_delivery: fewer context
switches per delivery).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class BatchState(Generic[R]):
    """One batch: its items, and once answered its results or the error every member sees."""

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.size = 0
        self.closed = False
        self.results: Sequence[R] = ()
        self.error: BaseException | None = None


class _Batch(BatchState[R]):
    def __init__(self) -> None:
        super().__init__()
        self.full = threading.Event()
        self.gates: list[threading.Lock] = []  # one per member, held until the batch is answered


B = TypeVar("B", bound=BatchState[Any])


class BatchLimits(Generic[R, B]):
    """What a batch may hold, how long it stays open, how it is sent or refused, and how items
    join it: shared by the threaded `Coalescer` and `async_batching.AsyncCoalescer`, which differ
    in how members wait. `send(items) -> results` is called with up to `max_items` items whose
    sizes (plus one separator byte each) add up to at most `max_bytes`; it must return one
    result per item. `admit` (the batch's budget) is a function or a coroutine function per
    coalescer; `refuse(items)` answers a batch it did not admit."""

    def __init__(
        self,
        send: Callable[[list[bytes]], Sequence[R]],
        max_items: int,
        max_wait: float,
        max_bytes: int,
        admit: Callable[[], Any] | None = None,
        refuse: Callable[[list[bytes]], Sequence[R]] | None = None,
    ) -> None:
        if admit is not None and refuse is None:
            raise ValueError("admit needs refuse: the answer for a batch it does not admit")
        self._send = send
        self._admit = admit
        self._refuse = refuse
        self.max_items = max_items
        self.max_wait = max_wait
        self.max_bytes = max_bytes
        self._open: B | None = None

    def item_size(self, item: bytes) -> int:
        """Its share of a batch; raises ValueError for an item no batch can hold."""
        size = len(item) + 1
        if size > self.max_bytes:
            raise ValueError(f"item of {len(item)} bytes exceeds the batch limit {self.max_bytes}")
        return size

    def _joinable(self, size: int) -> B | None:
        """The open batch if an item of `size` fits in it (else it is closed: None)."""
        batch = self._open
        if batch is not None and batch.size + size > self.max_bytes:
            self._close(batch)
            return None
        return batch

    def _add(self, batch: B, item: bytes, size: int) -> int:
        """Append `item`; the batch closes when full. Returns the item's index."""
        index = len(batch.items)
        batch.items.append(item)
        batch.size += size
        if len(batch.items) >= self.max_items:
            self._close(batch)
        return index

    def _close(self, batch: B) -> None:
        """No item joins `batch` after this (and its leader stops waiting for more)."""
        batch.closed = True
        if self._open is batch:
            self._open = None

    def _results(self, batch: B, results: Sequence[R]) -> None:
        if len(results) != len(batch.items):
            raise RuntimeError(f"send returned {len(results)} results for {len(batch.items)} items")
        batch.results = results

    @staticmethod
    def _result(batch: B, index: int) -> R:
        if batch.error is not None:
            raise RuntimeError("the batch this item was part of failed to send") from batch.error
        return batch.results[index]


class Coalescer(BatchLimits[R, _Batch[R]]):
    """Blocking: each `submit` holds its thread until its item's result is known. Takes
    `BatchLimits`' arguments; `admit` is a function returning whether the batch may be sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()

    def submit(self, item: bytes) -> R:
        size = self.item_size(item)
        with self._lock:
            batch = self._joinable(size)
            leader = batch is None
            if batch is None:
                batch = self._open = _Batch()
            else:
                gate = threading.Lock()
                gate.acquire()
                batch.gates.append(gate)
            index = self._add(batch, item, size)
        if leader:
            self._lead(batch)
        else:
            gate.acquire()  # released by the leader, results in place
        return self._result(batch, index)

    def _close(self, batch: _Batch[R]) -> None:
        """Caller holds the lock."""
        super()._close(batch)
        batch.full.set()

    def _lead(self, batch: _Batch[R]) -> None:
        window_end = time.monotonic() + self.max_wait
        try:
            # The batch stays open while its request waits for the budget (members keep joining).
            admitted = self._admit() if self._admit is not None else True
            if admitted and (remaining := window_end - time.monotonic()) > 0:
                batch.full.wait(remaining)
            with self._lock:
                self._close(batch)
            if admitted or self._refuse is None:
                self._results(batch, self._send(batch.items))
            else:
                self._results(batch, self._refuse(batch.items))
        except BaseException as exc:  # members must never hang: they all see the failure
            with self._lock:
                self._close(batch)
            batch.error = exc
        finally:
            for gate in batch.gates:  # complete: the batch was closed before it was sent
                gate.release()
