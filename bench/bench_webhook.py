"""Benchmark: the webhook handler against a bare functions-framework function, same run.

Both run under the real functions-framework server (gunicorn, one worker) on 127.0.0.1; the
handler publishes to Google's Pub/Sub emulator. The same client load (signed reporting-webhook
events, keep-alive connections in threads) hits each in turn, at 1, 4 and 16 connections.
Prints requests per second, p50/p99 latency and server CPU per request for each, the Publish
calls per request (from the handler's decision log: each line says how many messages its
Publish call carried, group commit), and the handler/bare ratios at each connection count: the
handler should cost little more than the server that hosts it.

    .venv/bin/python bench/bench_webhook.py [--requests 3000] [--connections 1,4,16]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.processes import FUNCTIONS, free_port, pubsub_emulator, running  # noqa: E402

KEY = "bench-signing-key"
PROJECT = "bench-project"
BARE = """
import functions_framework

@functions_framework.http
def handle(request):
    request.get_data()
    return "ok", 200
"""


@dataclass
class Result:
    name: str
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    server_cpu_seconds: float = 0.0
    publish_calls: float = 0.0  # sum over requests of 1 / messages in its Publish call

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_seconds * 1000 / len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        calls = (
            f"   Publish calls/req {self.publish_calls / len(self.latencies_ms):4.2f}"
            if self.publish_calls
            else ""
        )
        return (
            f"{self.name:<12} {self.rps:8.0f} req/s   p50 {self.percentile(0.5):6.2f} ms   "
            f"p99 {self.percentile(0.99):6.2f} ms   "
            f"server CPU {self.cpu_ms_per_request:5.2f} ms/req   "
            f"statuses {dict(sorted(self.statuses.items()))}{calls}"
        )


def signed_requests(count: int) -> list[tuple[bytes, dict[str, str]]]:
    """Realistic email events, each signed as Customer.io would sign it (done before timing)."""
    now = int(time.time())
    prepared = []
    for n in range(count):
        body = json.dumps(
            {
                "event_id": f"01BENCH{n:019d}",
                "object_type": "email",
                "metric": ("sent", "delivered", "opened", "clicked")[n % 4],
                "timestamp": now,
                "data": {
                    "action_id": 42,
                    "campaign_id": 7,
                    "customer_id": f"c{n}",
                    "delivery_id": f"RPILAgUBcRhIBq{n:08d}",
                    "identifiers": {"id": f"c{n}", "email": f"p{n}@example.com"},
                    "recipient": f"p{n}@example.com",
                    "subject": "Your weekly digest",
                },
            },
            separators=(",", ":"),
        ).encode()
        message = b"v0:" + str(now).encode() + b":" + body
        signature = hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-CIO-Timestamp": str(now),
            "X-CIO-Signature": signature,
        }
        prepared.append((body, headers))
    return prepared


def load(name: str, url: str, work: list[tuple[bytes, dict[str, str]]], threads: int) -> Result:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    chunks = [work[i::threads] for i in range(threads)]

    def worker(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        mine: list[float] = []
        codes: dict[int, int] = {}
        with requests.Session() as session:
            for body, headers in chunk:
                started = time.perf_counter()
                response = session.post(url, data=body, headers=headers, timeout=10)
                mine.append((time.perf_counter() - started) * 1000)
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    pool = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return Result(name, time.perf_counter() - started, latencies, statuses)


@contextmanager
def serve(source: Path, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """functions-framework (gunicorn, WORKERS=1) on 127.0.0.1; yields (url, process group)."""
    port = free_port()
    argv = [
        sys.executable, "-m", "functions_framework", f"--source={source}", "--target=handle",
        "--host=127.0.0.1", f"--port={port}",
    ]  # fmt: skip
    env = {**env, "PYTHONPATH": str(FUNCTIONS)}
    with running(argv, port, env=env, log_path=log) as proc:
        yield f"http://127.0.0.1:{port}", proc.pid


def group_cpu_seconds(group: int) -> float:
    """User + system CPU of every process in `group` (the gunicorn master and its worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


@contextmanager
def topics(host: str) -> Iterator[str]:
    os.environ["PUBSUB_EMULATOR_HOST"] = host
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    topic = f"projects/{PROJECT}/topics/cio-bench-webhook-events"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    subscription = f"projects/{PROJECT}/subscriptions/cio-bench-webhook-events"
    pubsub_v1.SubscriberClient().create_subscription(name=subscription, topic=topic)
    yield topic


def publish_calls(log: Path, offset: int) -> float:
    """Sum of 1 / `publish_call_messages` over the decision lines written after `offset`."""
    total = 0.0
    with log.open("rb") as handle:
        handle.seek(offset)
        for line in handle:
            if line.startswith(b"{") and b"publish_call_messages" in line:
                total += 1 / json.loads(line)["publish_call_messages"]
    return total


def ratios(label: str, hook: Result, bare: Result) -> str:
    return (
        f"ratio    {label}: throughput {hook.rps / bare.rps:.2f}x, "
        f"p50 {hook.percentile(0.5) / bare.percentile(0.5):.2f}x, "
        f"p99 {hook.percentile(0.99) / bare.percentile(0.99):.2f}x, "
        f"server CPU per request {hook.cpu_ms_per_request / bare.cpu_ms_per_request:.2f}x "
        f"(mean latency {statistics.mean(hook.latencies_ms):.2f} vs "
        f"{statistics.mean(bare.latencies_ms):.2f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per run")
    parser.add_argument("--connections", default="1,4,16", help="comma-separated counts")
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    connections = [int(n) for n in args.connections.split(",")]
    runs_per_server = len(connections)
    work = signed_requests(args.warmup + args.requests * runs_per_server)
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        host = stack.enter_context(pubsub_emulator(log_path=scratch / "pubsub.log"))
        topic = stack.enter_context(topics(host))
        (scratch / "bare.py").write_text(BARE)
        env = {
            "WORKERS": "1",
            "CIO_WEBHOOK_SIGNING_KEY": KEY,
            "CIO_WEBHOOK_EVENTS_TOPIC": topic,
            "CIO_ENVIRONMENT": "bench",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "PUBSUB_EMULATOR_HOST": host,
        }
        servers = {
            "bare": (scratch / "bare.py", scratch / "bare.log"),
            "webhook": (REPO / "functions" / "webhook" / "main.py", scratch / "webhook.log"),
        }
        # The same requests with a broken signature: the handler's own path (read, verify,
        # answer 401, log) without the Pub/Sub round trip.
        forged = [(body, {**headers, "X-CIO-Signature": "0" * 64}) for body, headers in work]
        plans = {
            "bare": [(f"bare/{n}", work, n) for n in connections],
            "webhook": [(f"webhook/{n}", work, n) for n in connections]
            + [("rejected/4", forged, 4)],
        }
        results: dict[str, Result] = {}
        for server, plan in plans.items():
            source, log = servers[server]
            with serve(source, env, log) as (url, group):
                load("warmup", url, work[: args.warmup], 4)
                for index, (name, requests_, threads) in enumerate(plan):
                    start = args.warmup + (index % runs_per_server) * args.requests
                    chunk = requests_[start : start + args.requests]
                    offset = log.stat().st_size if log.exists() else 0
                    cpu = group_cpu_seconds(group)
                    result = load(name, url, chunk, threads)
                    result.server_cpu_seconds = group_cpu_seconds(group) - cpu
                    if server == "webhook":
                        time.sleep(0.2)  # the last lines reach the log file
                        result.publish_calls = publish_calls(log, offset)
                    results[name] = result
        print(f"{args.requests} signed requests per run, one worker each")
        for result in results.values():
            print(result.line())
        for n in connections:
            print(
                ratios(
                    f"webhook/bare at {n} connection(s)",
                    results[f"webhook/{n}"],
                    results[f"bare/{n}"],
                )
            )
        if "bare/4" in results:
            for n in connections:
                hook, bare = results[f"webhook/{n}"], results["bare/4"]
                cpu = hook.cpu_ms_per_request / bare.cpu_ms_per_request
                print(
                    f"ratio    webhook at {n} / bare at 4: throughput {hook.rps / bare.rps:.2f}x, "
                    f"server CPU per request {cpu:.2f}x"
                )
            rejected, bare = results["rejected/4"], results["bare/4"]
            cpu = rejected.cpu_ms_per_request / bare.cpu_ms_per_request
            print(
                f"ratio    rejected/bare at 4 (no publish): throughput "
                f"{rejected.rps / bare.rps:.2f}x, "
                f"p50 {rejected.percentile(0.5) / bare.percentile(0.5):.2f}x, "
                f"server CPU per request {cpu:.2f}x"
            )
        print(
            "(the webhook's latency includes a Publish round trip to the Pub/Sub emulator, a JVM "
            "sharing this machine's cores with the server and the client)"
        )
        for n in connections:
            hook = results[f"webhook/{n}"]
            if hook.statuses != {200: args.requests}:
                print(f"webhook answered other than 200: {hook.statuses}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
