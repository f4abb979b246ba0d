"""A token bucket per workspace: `rate` tokens a second, up to `burst` saved up."""

from __future__ import annotations

import math
import threading
import time


class TokenBucket:
    """Thread-safe token bucket; `take()` says whether a request may pass, or how long to wait."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1.0, rate))
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 if a token was taken; otherwise the seconds until the next token."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def retry_after_header(wait_seconds: float) -> str:
    """Retry-After takes whole seconds; never advertise 0 for a refused request."""
    return str(max(1, math.ceil(wait_seconds)))
