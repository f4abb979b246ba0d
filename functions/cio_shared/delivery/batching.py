"""Coalesce concurrent deliveries of one instance into Track API `/api/v2/batch` calls.

functions-framework serves requests on gunicorn threads, so with concurrency > 1 several
deliveries are in flight at once. Each calls `Coalescer.submit`, which blocks until its item's
outcome is known. No background thread (gunicorn forks after import): the first thread to find
no open batch becomes its *leader*, waits up to `max_wait` for others to join (or until the
batch is full by count or bytes), closes it, sends it and hands every member its own result.
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


class _Batch(Generic[R]):
    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.size = 0
        self.closed = False
        self.full = threading.Event()
        self.gates: list[threading.Lock] = []  # one per member, held until the batch is answered
        self.results: Sequence[R] = ()
        self.error: BaseException | None = None


class BatchLimits(Generic[R]):
    """What a batch may hold, how long it stays open, and how it is sent or refused: shared by
    the threaded `Coalescer` and `async_batching.AsyncCoalescer`. `send(items) -> results` is
    called with up to `max_items` items whose sizes (plus one separator byte each) add up to at
    most `max_bytes`; it must return one result per item. `admit` (the batch's budget) is
    callable or awaitable per coalescer; `refuse(items)` answers a batch it did not admit."""

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

    def item_size(self, item: bytes) -> int:
        """Its share of a batch; raises ValueError for an item no batch can hold."""
        size = len(item) + 1
        if size > self.max_bytes:
            raise ValueError(f"item of {len(item)} bytes exceeds the batch limit {self.max_bytes}")
        return size

    def checked(self, results: Sequence[R], items: list[bytes]) -> Sequence[R]:
        if len(results) != len(items):
            raise RuntimeError(f"send returned {len(results)} results for {len(items)} items")
        return results


class Coalescer(BatchLimits[R]):
    """Blocking: each `submit` holds its thread until its item's result is known."""

    def __init__(
        self,
        send: Callable[[list[bytes]], Sequence[R]],
        max_items: int,
        max_wait: float,
        max_bytes: int,
        admit: Callable[[], bool] | None = None,
        refuse: Callable[[list[bytes]], Sequence[R]] | None = None,
    ) -> None:
        super().__init__(send, max_items, max_wait, max_bytes, admit, refuse)
        self._lock = threading.Lock()
        self._open: _Batch[R] | None = None

    def submit(self, item: bytes) -> R:
        size = self.item_size(item)
        with self._lock:
            batch = self._open
            if batch is not None and (batch.size + size > self.max_bytes):
                self._close(batch)
                batch = None
            leader = batch is None
            if batch is None:
                batch = self._open = _Batch()
            else:
                gate = threading.Lock()
                gate.acquire()
                batch.gates.append(gate)
            index = len(batch.items)
            batch.items.append(item)
            batch.size += size
            if len(batch.items) >= self.max_items:
                self._close(batch)
        if leader:
            self._lead(batch)
        else:
            gate.acquire()  # released by the leader, results in place
        if batch.error is not None:
            raise RuntimeError("the batch this item was part of failed to send") from batch.error
        return batch.results[index]

    def _close(self, batch: _Batch[R]) -> None:
        """Caller holds the lock: no item joins `batch` after this."""
        batch.closed = True
        if self._open is batch:
            self._open = None
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
                results = self._send(batch.items)
            else:
                results = self._refuse(batch.items)
            batch.results = self.checked(results, batch.items)
        except BaseException as exc:  # members must never hang: they all see the failure
            with self._lock:
                self._close(batch)
            batch.error = exc
        finally:
            for gate in batch.gates:  # complete: the batch was closed before it was sent
                gate.release()
