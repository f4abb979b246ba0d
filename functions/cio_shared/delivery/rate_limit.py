"""An in-process token bucket: this instance's share of the workspace request budget.

The stack sets `CIO_RATE_LIMIT_PER_SECOND` to budget x share / max instances, so all instances
together stay under the workspace budget. A request waits for its token; when the wait would
exceed a bound the caller answers `retry` instead, so a spike becomes backlog in Pub/Sub
rather than sustained 429s from Customer.io.

Adaptive (`CIO_RATE_LIMIT_ADAPTIVE`, on by default): Customer.io may throttle below the
documented ceiling, so the rate is not fixed. On a 429 (`throttled`) the instance cuts its rate
multiplicatively (x `decrease`, at most once per `cooldown`, so one burst of 429s from requests
already in flight counts once) and sends nothing until `Retry-After` has passed; every second
without a 429 it adds `increase` x its configured rate back, up to the configured rate
(additive increase, multiplicative decrease: instances sharing a throttled workspace converge
on fair shares of what it accepts). A pause voids the tokens already handed out: callers still
waiting for theirs queue again behind the pause, within their own wait bound.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

# AIMD defaults, tuned with bench/bench_delivery.py --scenario throttled (bench/README.md).
DECREASE = 0.8
INCREASE_PER_SECOND = 0.01  # of the configured rate
MIN_SHARE = 0.05  # of the configured rate: the floor of the decrease
MAX_RETRY_AFTER = 60.0


class TokenBucket:
    """Thread-safe; `rate` tokens per second, up to `burst` saved. rate <= 0 means unlimited."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        adaptive: bool = False,
        decrease: float = DECREASE,
        increase: float = INCREASE_PER_SECOND,
        cooldown: float | None = None,
    ) -> None:
        self.configured = rate
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.adaptive = adaptive and rate > 0
        self.decrease = decrease
        self.increase = increase
        self.cooldown = cooldown
        self.throttles = 0  # 429s reported
        self.decreases = 0  # of which cut the rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()
        self._last_cut = float("-inf")
        self._epoch = 0  # bumped by a pause: reservations of an older epoch are void

    def _refill(self, now: float) -> None:
        """Caller holds the lock."""
        elapsed = now - self._stamp
        if elapsed <= 0:
            return
        if self.adaptive and self.rate < self.configured:
            self.rate = min(self.configured, self.rate + self.increase * self.configured * elapsed)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = now

    def reserve(self, max_wait: float) -> float | None:
        """Take a token; return how long to wait before using it, or None if over `max_wait`.

        Reservations go negative, so concurrent callers queue fairly in arrival order.
        """
        taken = self._reserve(max_wait)
        return None if taken is None else taken[0]

    def _reserve(self, max_wait: float) -> tuple[float, int] | None:
        if self.rate <= 0:
            return 0.0, 0
        with self._lock:
            self._refill(self._clock())
            wait = max(0.0, (1.0 - self._tokens) / self.rate)
            if wait > max_wait:
                return None
            self._tokens -= 1.0
            return wait, self._epoch

    def acquire(self, max_wait: float) -> bool:
        """Block until a token is ours; False (none taken) if the wait would exceed max_wait.

        A pause (a 429 with Retry-After) while waiting voids the reservation: the caller
        queues again behind the pause, within what is left of `max_wait`.
        """
        deadline = self._clock() + max_wait
        while (taken := self._reserve(max(0.0, deadline - self._clock()))) is not None:
            wait, epoch = taken
            if wait > 0:
                self._sleep(wait)
            if epoch == self._epoch:
                return True
        return False

    async def acquire_async(self, max_wait: float) -> bool:
        """`acquire` for a coroutine: the wait is an `asyncio.sleep`, no thread is held."""
        deadline = self._clock() + max_wait
        while (taken := self._reserve(max(0.0, deadline - self._clock()))) is not None:
            wait, epoch = taken
            if wait > 0:
                await asyncio.sleep(wait)
            if epoch == self._epoch:
                return True
        return False

    def throttled(self, retry_after: float | None = None) -> None:
        """Customer.io answered 429: cut the rate (once per cooldown) and pause for
        `retry_after` seconds (capped at MAX_RETRY_AFTER)."""
        if not self.adaptive:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            self.throttles += 1
            pause = min(MAX_RETRY_AFTER, max(0.0, retry_after or 0.0))
            cooldown = self.cooldown if self.cooldown is not None else max(1.0, pause)
            if now - self._last_cut < cooldown:
                return
            self._last_cut = now
            self.decreases += 1
            self.rate = max(self.configured * MIN_SHARE, self.rate * self.decrease)
            # Nothing is sent before the pause ends; what was reserved before it is void.
            self._tokens = -pause * self.rate
            self._epoch += 1
