"""AsyncCoalescer: the batches of the ASGI-served handlers, on a real event loop and thread pool.

The HTTP path through functions-framework's ASGI server is covered by test_integration and
test_no_loss (track and identify run as processes); these pin the coalescer's own promises.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from cio_shared.delivery.async_batching import AsyncCoalescer
from cio_shared.delivery.blocking import run_blocking
from cio_shared.delivery.rate_limit import TokenBucket


def _upper(sent: list[list[bytes]]):
    def send(items: list[bytes]) -> Sequence[bytes]:
        sent.append(list(items))
        return [item.upper() for item in items]

    return send


async def _submit_all(coalescer: AsyncCoalescer[bytes], items: list[bytes]) -> list[object]:
    return await asyncio.gather(*(coalescer.submit(i) for i in items), return_exceptions=True)


def test_concurrent_deliveries_share_calls_and_each_gets_its_own_result() -> None:
    sent: list[list[bytes]] = []
    sender_threads: set[str] = set()

    def send(items: list[bytes]) -> Sequence[bytes]:
        sender_threads.add(threading.current_thread().name)
        return _upper(sent)(items)

    coalescer = AsyncCoalescer(send, run_blocking, max_items=10, max_wait=0.2, max_bytes=10_000)
    items = [f"item-{i}".encode() for i in range(25)]
    results = asyncio.run(_submit_all(coalescer, items))
    assert results == [item.upper() for item in items]
    assert [len(batch) for batch in sent] == [10, 10, 5]  # full batches close at once
    assert all(name.startswith("cio-blocking") for name in sender_threads)  # off the loop


def test_byte_limit_splits_batches_and_an_oversized_item_is_refused() -> None:
    sizes: list[int] = []

    def send(items: list[bytes]) -> Sequence[bytes]:
        sizes.append(sum(len(i) + 1 for i in items))
        return items

    coalescer = AsyncCoalescer(send, run_blocking, max_items=100, max_wait=0.1, max_bytes=350)
    results = asyncio.run(_submit_all(coalescer, [b"x" * 99 for _ in range(12)]))
    assert results == [b"x" * 99] * 12
    assert sizes and max(sizes) <= 350 and sum(sizes) == 12 * 100
    with pytest.raises(ValueError, match="exceeds the batch limit"):
        asyncio.run(coalescer.submit(b"y" * 400))


def test_not_admitted_batch_is_refused_whole() -> None:
    sent: list[list[bytes]] = []

    async def admit() -> bool:
        return False

    coalescer = AsyncCoalescer(
        _upper(sent),
        run_blocking,
        max_items=10,
        max_wait=0.05,
        max_bytes=1000,
        admit=admit,
        refuse=lambda items: [b"refused"] * len(items),
    )
    assert asyncio.run(_submit_all(coalescer, [b"a", b"b", b"c"])) == [b"refused"] * 3
    assert sent == []


def test_budget_wait_keeps_the_batch_open() -> None:
    """The leader waits for its token (an asyncio sleep) while later deliveries join."""
    bucket = TokenBucket(rate=5, burst=1)
    sent: list[list[bytes]] = []
    coalescer = AsyncCoalescer(
        _upper(sent),
        run_blocking,
        max_items=100,
        max_wait=0.0,
        max_bytes=10_000,
        admit=lambda: bucket.acquire_async(2.0),
        refuse=lambda items: [b"refused"] * len(items),
    )

    async def scenario() -> list[object]:
        first = await coalescer.submit(b"first")  # takes the one saved token
        later = [asyncio.create_task(coalescer.submit(f"n{i}".encode())) for i in range(20)]
        return [first, *await asyncio.gather(*later)]

    results = asyncio.run(scenario())
    assert results[0] == b"FIRST" and results[1:] == [f"N{i}".encode() for i in range(20)]
    assert [len(batch) for batch in sent] == [1, 20]  # 20 joined during the 0.2 s token wait


def test_send_failure_reaches_every_member() -> None:
    def send(items: list[bytes]) -> Sequence[bytes]:
        raise OSError("boom")

    coalescer = AsyncCoalescer(send, run_blocking, max_items=5, max_wait=0.1, max_bytes=1000)
    results = asyncio.run(_submit_all(coalescer, [b"x"] * 5))
    assert all(isinstance(r, RuntimeError) for r in results)
    assert all(isinstance(r.__cause__, OSError) for r in results if isinstance(r, BaseException))


def test_wrong_result_count_is_a_failure_not_a_misattribution() -> None:
    coalescer = AsyncCoalescer(
        lambda items: items[:-1], run_blocking, max_items=3, max_wait=0.1, max_bytes=1000
    )
    results = asyncio.run(_submit_all(coalescer, [b"a", b"b", b"c"]))
    assert all(isinstance(r, RuntimeError) for r in results)


def test_a_cancelled_member_leaves_its_neighbours_answered() -> None:
    sent: list[list[bytes]] = []
    coalescer = AsyncCoalescer(
        _upper(sent), run_blocking, max_items=100, max_wait=0.2, max_bytes=10_000
    )

    async def scenario() -> tuple[list[object], bool]:
        tasks = [asyncio.create_task(coalescer.submit(f"m{i}".encode())) for i in range(4)]
        await asyncio.sleep(0.05)  # all four joined the open batch
        tasks[2].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return results, tasks[2].cancelled()

    results, cancelled = asyncio.run(scenario())
    assert cancelled
    assert [results[i] for i in (0, 1, 3)] == [b"M0", b"M1", b"M3"]
    assert sent == [[b"m0", b"m1", b"m2", b"m3"]]  # the batch was already formed
