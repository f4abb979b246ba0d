"""The benchmarks' load generator: asyncio on raw keep-alive HTTP/1.1 connections.

The requests are complete byte strings built before the clock starts, so on this two-core
machine the client takes as little CPU as it can from the server it measures (a `requests`
session per thread cost more CPU per request than the bare server it was measuring).

- `post(port, body, headers)`: one request's bytes.
- `run_timed`: deliveries until a time is up, each resent after a pause until answered 200
  (as Pub/Sub redelivers); bench_delivery.
- `run_each`: every request once, statuses counted; bench_webhook.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

_State = dict[str, asyncio.StreamReader | asyncio.StreamWriter | None]


def post(port: int, body: bytes, headers: Mapping[str, str]) -> bytes:
    """A complete HTTP/1.1 POST to `/`."""
    lines = [f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "".join(lines).encode() + body


async def _exchange(port: int, state: _State, raw: bytes) -> int:
    """Send one request on the worker's keep-alive connection; returns the status."""
    for attempt in range(3):
        if state["writer"] is None:
            state["reader"], state["writer"] = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = state["reader"], state["writer"]
        assert isinstance(reader, asyncio.StreamReader)
        assert isinstance(writer, asyncio.StreamWriter)
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await reader.readexactly(length)
            if close:
                writer.close()
                state["writer"] = None
            return status
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            state["writer"] = None  # the server closed an idle connection: reconnect, resend
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _close(state: _State) -> None:
    writer = state["writer"]
    if isinstance(writer, asyncio.StreamWriter):
        writer.close()


def run_timed(
    port: int, seconds: float, concurrency: int, work: Iterator[bytes]
) -> tuple[list[float], float, int]:
    """Post fresh requests until `seconds` pass, each until answered 200; returns latencies
    (seconds, first send to 200), elapsed seconds and the non-200 answers."""
    latencies: list[float] = []
    retries = 0

    async def worker(deadline: float) -> None:
        nonlocal retries
        state: _State = {"reader": None, "writer": None}
        while time.monotonic() < deadline:
            raw = next(work)
            first = time.monotonic()
            while await _exchange(port, state, raw) != 200:
                retries += 1
                await asyncio.sleep(0.1)  # Pub/Sub would redeliver later
            latencies.append(time.monotonic() - first)
        _close(state)

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    return latencies, elapsed, retries


@dataclass
class Answers:
    """What `run_each` saw: latency per request (ms), elapsed seconds, statuses counted."""

    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


def run_each(port: int, work: Sequence[bytes], concurrency: int) -> Answers:
    """Send every request in `work` once over `concurrency` connections."""
    answers = Answers()
    queue = iter(work)

    async def worker() -> None:
        state: _State = {"reader": None, "writer": None}
        for raw in queue:  # shared: each request goes to the next free connection
            started = time.perf_counter()
            status = await _exchange(port, state, raw)
            answers.latencies_ms.append((time.perf_counter() - started) * 1000)
            answers.statuses[status] = answers.statuses.get(status, 0) + 1
        _close(state)

    async def main() -> None:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        answers.seconds = time.perf_counter() - started

    asyncio.run(main())
    return answers
