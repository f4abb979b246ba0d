"""Benchmark: the webhook handler against a bare functions-framework function, same run.

Both run under the real functions-framework server (gunicorn, one worker) on 127.0.0.1; the
handler publishes to Google's Pub/Sub emulator. The same client load (signed reporting-webhook
events on raw keep-alive connections, `loadgen.py`) hits each at 1, 4 and 16 connections.
Both servers stay up for the whole run and are measured in alternation, point by point, for
`--rounds` rounds (the order flips every round), so a change in the machine's load meets both
alike; the summary gives each ratio's median over the rounds and its range.

Printed per point: requests per second, p50/p99 latency, server CPU per request (gunicorn master
and worker, from /proc) and, for the webhook, the Publish calls per request (from its decision
log: each line says how many messages its Publish call carried, group commit); then the
handler/bare ratios: the handler should cost little more than the server that hosts it.

    .venv/bin/python bench/bench_webhook.py [--requests 2000] [--connections 1,4,16] [--rounds 3]
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

from loadgen import Answers, post, run_each  # noqa: E402  (bench/, the script's folder)

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


Request = tuple[bytes, dict[str, str]]


def signed_requests(count: int, first: int = 0) -> list[Request]:
    """Realistic email events (body, headers), each signed as Customer.io would sign it (done
    before timing, per round, so every timestamp is fresh)."""
    now = int(time.time())
    prepared = []
    for n in range(first, first + count):
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


def forge(requests_: list[Request]) -> list[Request]:
    """The same requests with a wrong signature: the handler's own path (read, verify, answer
    401, log) without the Pub/Sub round trip."""
    return [(body, {**headers, "X-CIO-Signature": "0" * 64}) for body, headers in requests_]


def run_threads(port: int, work: list[Request], connections: int) -> Answers:
    """The issue's original client: a `requests` session per connection, in threads (it costs
    more CPU per request than the bare server, on the same two cores)."""
    answers = Answers()
    lock = threading.Lock()
    url = f"http://127.0.0.1:{port}/"

    def worker(chunk: list[Request]) -> None:
        mine: list[float] = []
        codes: dict[int, int] = {}
        with requests.Session() as session:
            for body, headers in chunk:
                started = time.perf_counter()
                response = session.post(url, data=body, headers=headers, timeout=10)
                mine.append((time.perf_counter() - started) * 1000)
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
        with lock:
            answers.latencies_ms.extend(mine)
            for code, n in codes.items():
                answers.statuses[code] = answers.statuses.get(code, 0) + n

    threads = [
        threading.Thread(target=worker, args=(work[i::connections],)) for i in range(connections)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers.seconds = time.perf_counter() - started
    return answers


def run_raw(port: int, work: list[Request], connections: int) -> Answers:
    return run_each(port, [post(port, body, headers) for body, headers in work], connections)


CLIENTS = {"raw": run_raw, "requests": run_threads}


@contextmanager
def serve(source: Path, env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """functions-framework (gunicorn, WORKERS=1) on 127.0.0.1; yields (port, process group)."""
    port = free_port()
    argv = [
        sys.executable, "-m", "functions_framework", f"--source={source}", "--target=handle",
        "--host=127.0.0.1", f"--port={port}",
    ]  # fmt: skip
    env = {**env, "PYTHONPATH": str(FUNCTIONS)}
    with running(argv, port, env=env, log_path=log) as proc:
        yield port, proc.pid


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


@dataclass
class Server:
    name: str
    port: int
    group: int
    log: Path


def measure(
    client: str, server: Server, name: str, work: list[Request], connections: int
) -> Result:
    offset = server.log.stat().st_size if server.log.exists() else 0
    cpu = group_cpu_seconds(server.group)
    answers = CLIENTS[client](server.port, work, connections)
    result = Result(name, answers.seconds, answers.latencies_ms, answers.statuses)
    result.server_cpu_seconds = group_cpu_seconds(server.group) - cpu
    if server.name == "webhook":
        time.sleep(0.2)  # the last lines reach the log file
        result.publish_calls = publish_calls(server.log, offset)
    return result


def ratios(hook: Result, bare: Result) -> dict[str, float]:
    return {
        "throughput": hook.rps / bare.rps,
        "p50": hook.percentile(0.5) / bare.percentile(0.5),
        "CPU per request": hook.cpu_ms_per_request / bare.cpu_ms_per_request,
    }


def summary(label: str, rounds: list[dict[str, float]]) -> str:
    parts = []
    for key in rounds[0]:
        values = sorted(r[key] for r in rounds)
        spread = f" ({values[0]:.2f}-{values[-1]:.2f})" if len(values) > 1 else ""
        parts.append(f"{key} {statistics.median(values):.2f}x{spread}")
    return f"median  {label}: " + ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per point")
    parser.add_argument("--connections", default="1,4,16", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="raw",
        help="raw: asyncio on raw keep-alive connections (loadgen.py); requests: the issue's "
        "original client, a requests session per connection in threads",
    )
    args = parser.parse_args()
    connections = [int(n) for n in args.connections.split(",")]
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
        sources = {"bare": scratch / "bare.py", "webhook": REPO / "functions/webhook/main.py"}
        servers = {}
        for name, source in sources.items():
            log = scratch / f"{name}.log"
            port, group = stack.enter_context(serve(source, env, log))
            servers[name] = Server(name, port, group, log)
            run_raw(port, signed_requests(args.warmup), 4)  # imports done, pool open
        per_point: dict[str, list[dict[str, float]]] = {}
        failures: list[str] = []
        print(
            f"{args.requests} signed requests per point, one worker each, {args.rounds} rounds, "
            f"client {args.client}"
        )
        for round_ in range(args.rounds):
            order = ["bare", "webhook"] if round_ % 2 == 0 else ["webhook", "bare"]
            for n in connections:
                results = {}
                for name in order:
                    server = servers[name]
                    work = signed_requests(args.requests, round_ * 10**6 + n * 10**4)
                    results[name] = measure(args.client, server, f"{name}/{n}", work, n)
                    print(f"round {round_ + 1}  {results[name].line()}", flush=True)
                per_point.setdefault(f"webhook/bare at {n}", []).append(
                    ratios(results["webhook"], results["bare"])
                )
                if results["webhook"].statuses != {200: args.requests}:
                    failures.append(f"webhook/{n}: {results['webhook'].statuses}")
                if n == 4:
                    hook = servers["webhook"]
                    forged = forge(signed_requests(args.requests, round_ * 10**6))
                    rejected = measure(args.client, hook, "rejected/4", forged, 4)
                    rejected.publish_calls = 0.0
                    print(f"round {round_ + 1}  {rejected.line()}", flush=True)
                    per_point.setdefault("rejected/bare at 4 (no publish)", []).append(
                        ratios(rejected, results["bare"])
                    )
        for label, rounds in per_point.items():
            print(summary(label, rounds))
        print(
            "(the webhook's latency includes a Publish round trip to the Pub/Sub emulator, a JVM "
            "sharing this machine's cores with the server and the client)"
        )
        if failures:
            print(f"webhook answered other than 200: {failures}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
