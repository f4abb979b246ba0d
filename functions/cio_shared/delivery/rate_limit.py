"""An in-process token bucket: this instance's share of the workspace request budget.

The stack sets `CIO_RATE_LIMIT_PER_SECOND` to budget x share / max instances, so all instances
together stay under the workspace budget. A request waits for its token; when the wait would
exceed a bound the caller answers `retry` instead, so a spike becomes backlog in Pub/Sub
rather than sustained 429s from Customer.io.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe; `rate` tokens per second, up to `burst` saved. rate <= 0 means unlimited."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()

    def reserve(self, max_wait: float) -> float | None:
        """Take a token; return how long to wait before using it, or None if over `max_wait`.

        Reservations go negative, so concurrent callers queue fairly in arrival order.
        """
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            wait = max(0.0, (1.0 - self._tokens) / self.rate)
            if wait > max_wait:
                return None
            self._tokens -= 1.0
            return wait

    def acquire(self, max_wait: float) -> bool:
        """Block until a token is ours; False (none taken) if the wait would exceed max_wait."""
        wait = self.reserve(max_wait)
        if wait is None:
            return False
        if wait > 0:
            self._sleep(wait)
        return True
