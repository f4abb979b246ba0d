"""The public webhook's memory and framing under the real server (functions-framework's
gunicorn), issue 18 item 2: nothing is read before the headers pass, an oversized body is
refused before it is read and its connection closed, broken framing is a 400 (never a 500 with
a traceback), an oversized request line is refused, and N concurrent oversized uploads cost the
worker a bounded amount of memory (its peak RSS, VmHWM, is printed before and after).

The servers run as processes on 127.0.0.1 with no Pub/Sub behind them: nothing here is
published.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cio_shared.webhooks import REQUEST_LINE_LIMIT

from tests.support.processes import FUNCTIONS, free_port, running
from tests.webhook.support import KEY

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
CAP = 1 * MIB  # the manifest's CIO_WEBHOOK_MAX_BODY_BYTES
UPLOAD = 32 * MIB  # Cloud Run's HTTP/1 request limit: the largest body anyone can send
THREADS = 20


@dataclass
class Server:
    port: int
    master: int

    def worker(self) -> int:
        children = Path(f"/proc/{self.master}/task/{self.master}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.worker()}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)


@contextmanager
def webhook_server(log: Path, cap: int = CAP, threads: int = THREADS) -> Iterator[Server]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "functions_framework",
        f"--source={FUNCTIONS / 'webhook' / 'main.py'}",
        "--target=handle",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    env = {
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS), os.environ.get("PYTHONPATH", "")]),
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "CIO_WEBHOOK_MAX_BODY_BYTES": str(cap),
        "THREADS": str(threads),
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",  # never reached: nothing here is published
    }
    with running(argv, port, env=env, log_path=log) as proc:
        server = Server(port, proc.pid)
        exchange(server, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # the worker is up
        yield server


def headers(length: int | None = None, signature: str | None = "ab" * 32, **extra: str) -> bytes:
    lines = ["POST / HTTP/1.1", "Host: webhook.test"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if signature is not None:
        lines.append(f"X-CIO-Signature: {signature}")
    lines.append(f"X-CIO-Timestamp: {extra.pop('timestamp', str(int(time.time())))}")
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Exchange:
    response: bytes
    closed_after: float  # seconds from the response to the server closing the connection
    body_sent: int  # bytes of body the client managed to send

    @property
    def status(self) -> int:
        return int(self.response.split(b" ", 2)[1]) if self.response else 0


def exchange(
    server: Server,
    head: bytes,
    body: bytes = b"",
    upload: int = 0,
    chunked: bool = False,
    until_closed: bool = True,
) -> Exchange:
    """Send `head` (+ `body`), then keep sending up to `upload` more bytes of body while a
    reader thread collects the answer; stops at the server's close (or 20 s), or with
    `until_closed=False` once a whole chunked answer arrived."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    received = bytearray()
    answered: list[float] = []
    closed: list[float] = []

    def read() -> None:
        try:
            while chunk := sock.recv(65536):
                if not received:
                    answered.append(time.monotonic())
                received.extend(chunk)
                if not until_closed and received.endswith(b"\r\n0\r\n\r\n"):
                    break
        except OSError:
            pass
        closed.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        sock.sendall(head + body)
        piece = (b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n") if chunked else b"x" * 65536
        while sent < upload and not closed:
            sock.sendall(piece)
            sent += 65536
    except OSError:
        pass
    reader.join(20)
    sock.close()
    end = closed[0] if closed else time.monotonic()
    return Exchange(bytes(received), end - (answered[0] if answered else end), sent)


def test_an_oversized_declared_body_is_refused_before_a_byte_of_it_is_sent(tmp_path) -> None:
    with webhook_server(tmp_path / "server.log") as server:
        started = time.monotonic()
        result = exchange(server, headers(length=UPLOAD))  # no body at all
        assert result.status == 413, result.response
        assert b'"body_too_large"' in result.response
        # gunicorn waits (at most its 5 s data timeout) for up to 64 KiB of the unread body,
        # then closes: the rest is never read, let alone buffered
        assert time.monotonic() - started < 10


def test_an_oversized_upload_is_cut_off_and_its_connection_closed(tmp_path) -> None:
    """A 32 MiB upload, declared or chunked: the client cannot push more than the cap plus
    what the sockets buffer before the server answers 413 and closes."""
    with webhook_server(tmp_path / "server.log") as server:
        for chunked in (False, True):
            head = headers(length=None if chunked else UPLOAD)
            result = exchange(server, head, upload=UPLOAD, chunked=chunked)
            assert result.status == 413, result.response
            assert result.body_sent < UPLOAD / 4, "the server read on after its answer"
            assert result.closed_after < 6


def test_requests_without_well_formed_headers_are_401_without_reading_the_body(tmp_path) -> None:
    with webhook_server(tmp_path / "server.log") as server:
        cases = {
            "missing_signature": headers(length=UPLOAD, signature=None),
            "malformed_signature": headers(length=UPLOAD, signature="sha256=abc"),
            "missing_timestamp": headers(length=UPLOAD, timestamp=""),
            "malformed_timestamp": headers(length=UPLOAD, timestamp="17e8"),
            "timestamp_too_old": headers(length=UPLOAD, timestamp="1000000000"),
        }
        for reason, head in cases.items():
            result = exchange(server, head, until_closed=False)  # the body is never sent
            assert result.status == 401, (reason, result.response)
            assert f'"{reason}"'.encode() in result.response
    log = (tmp_path / "server.log").read_text()
    assert log.count('"body_read": false') >= len(cases)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "chunk size not hex"),
        (b"5\r\nabcdefgh\r\n0\r\n\r\n", "chunk longer than its size"),
        (b"5;" + b"x" * 70000 + b"\r\nabcde\r\n0\r\n\r\n", "chunk extension too long"),
    ],
)
def test_broken_chunked_framing_is_400_not_500(tmp_path, body: bytes, why: str) -> None:
    with webhook_server(tmp_path / "server.log") as server:
        result = exchange(server, headers(), body)
        assert result.status == 400, (why, result.response)
        log = (tmp_path / "server.log").read_text()
        assert "Traceback" not in log and " 500 " not in result.response.decode("latin-1")


def test_an_oversized_request_line_is_refused(tmp_path) -> None:
    with webhook_server(tmp_path / "server.log") as server:
        for size in (REQUEST_LINE_LIMIT + 1, 2_000_000):
            result = exchange(server, b"POST /" + b"a" * size + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            assert result.status in (400, 414), result.response[:100]
        ok = exchange(server, b"POST /?" + b"a" * 1000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert ok.status == 401  # a normal line still reaches the handler


def _concurrently(server: Server, count: int, work) -> list[Exchange]:
    results: list[Exchange] = []
    lock = threading.Lock()

    def one() -> None:
        result = work(server)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_oversized_uploads_cost_bounded_memory(tmp_path) -> None:
    """THREADS concurrent 32 MiB chunked uploads with well-formed headers: before the fix the
    worker buffered each whole body (functions-framework's read after the 413)."""
    with webhook_server(tmp_path / "server.log") as server:
        before = server.status("VmHWM")
        results = _concurrently(
            server,
            THREADS,
            lambda s: exchange(s, headers(), upload=UPLOAD, chunked=True),
        )
        peak = server.status("VmHWM")
    growth = peak - before
    print(
        f"\n{THREADS} x {UPLOAD // MIB} MiB chunked uploads: worker peak RSS "
        f"{before / MIB:.0f} -> {peak / MIB:.0f} MiB (+{growth / MIB:.1f} MiB)"
    )
    assert sorted({r.status for r in results}) == [413]
    # each request holds at most cap + one read chunk; the old path held 32 MiB each
    assert growth < THREADS * 2 * CAP + 32 * MIB


def test_concurrent_bodies_at_the_cap_with_a_wrong_signature_fit_the_rule(tmp_path) -> None:
    """What the readiness rule budgets (stacks/readiness.py): a body under the cap is read
    whole before the signature can be checked, so concurrency x cap must fit in memory."""
    with webhook_server(tmp_path / "server.log") as server:
        before = server.status("VmHWM")
        body = b"{" + b"x" * (CAP - 2) + b"}"
        results = _concurrently(
            server, THREADS, lambda s: exchange(s, headers(length=len(body)), body)
        )
        peak = server.status("VmHWM")
    growth = peak - before
    print(
        f"\n{THREADS} x {CAP // MIB} MiB bodies, wrong signature: worker peak RSS "
        f"{before / MIB:.0f} -> {peak / MIB:.0f} MiB (+{growth / MIB:.1f} MiB); "
        f"baseline {before / MIB:.0f} MiB"
    )
    assert sorted({r.status for r in results}) == [401]
    assert growth < THREADS * 3 * CAP + 32 * MIB
