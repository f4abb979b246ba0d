"""One thread pool per instance for the blocking calls of a coroutine delivery (`run_blocking`),
and `send_with`, which awaits any sender.

Under functions-framework's ASGI server every delivery is a coroutine on one event loop; the
calls that block (an HTTP request to Customer.io, a dead-letter or Firestore call) run here so
the loop keeps serving. Sized like functions-framework's own thread pool for WSGI handlers
(`THREADS`, which the stacks set to the instance's concurrency): at most one blocking call per
delivery in flight. The threads start on first use, after gunicorn has forked the worker.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:
    from cio_shared.delivery.decisions import Outcome
    from cio_shared.delivery.senders import Sender

T = TypeVar("T")
DEFAULT_THREADS = 16


@cache
def _pool() -> ThreadPoolExecutor:
    threads = int(os.environ.get("THREADS") or DEFAULT_THREADS)
    return ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="cio-blocking")


async def run_blocking(call: Callable[..., T], *args: object) -> T:
    """`call(*args)` on the instance's pool; the caller's coroutine waits without a thread."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), call, *args)


async def send_with(sender: Sender, operation: bytes) -> Outcome:
    """`sender.send_async(operation)`; a sender written for threads only (`send`) runs on the
    pool rather than failing every delivery."""
    send_async = getattr(sender, "send_async", None)
    if send_async is None:
        return await run_blocking(sender.send, operation)
    return cast("Outcome", await send_async(operation))
