"""Delivery throughput: one request per event vs micro-batching, against a request budget.

The simulator enforces a Track API budget scaled to this 2-core machine (default 50 requests/s)
and answers with realistic latency (default 50 ms). The track handler runs under the real
functions-framework with CIO_RATE_LIMIT_PER_SECOND = the whole budget (one instance), and a
load generator posts real push envelopes with the concurrency Pub/Sub push would use, resending
a delivery answered with an error after a short pause (as Pub/Sub redelivers). Each mode runs
for the same wall time; printed: delivered events/s, the ratio, p50/p99 delivery latency (first
push to delivered, retries included) and handler CPU per delivered event (its process tree,
from /proc; it includes the work on deliveries answered `retry` by the local rate limit).

    .venv/bin/python bench/bench_delivery.py [--seconds 10] [--budget 50] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from cio_shared.messages import new_event_id  # noqa: E402

from tests.support.processes import FUNCTIONS, free_port, running  # noqa: E402

SITE_ID, API_KEY = "bench-site", "bench-key"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    mode: str
    delivered: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float
    requests: int
    rate_limited: int
    retries: int

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return (
            ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
            if ordered
            else float("nan")
        )

    def line(self) -> str:
        cpu_ms = self.cpu_seconds / max(1, self.delivered) * 1000
        return (
            f"{self.mode:<12} {self.per_second:8.1f} events/s  p50 {self.quantile(0.5):7.1f} ms  "
            f"p99 {self.quantile(0.99):7.1f} ms  cpu {cpu_ms:6.3f} ms/event  "
            f"({self.delivered} events, {self.requests} requests, {self.rate_limited} x 429, "
            f"{self.retries} retry answers)"
        )


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of `root` and every descendant (gunicorn forks its worker)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / CLOCK_TICKS
        todo.extend(children.get(pid, []))
    return total


def envelope(number: int) -> bytes:
    message = {
        "schema_version": 1,
        "event_id": new_event_id(),
        "action": "event",
        "person": {"id": f"bench-{number % 1000}"},
        "timestamp": int(time.time()),
        "name": "bench_event",
        "attributes": {"n": number, "plan": "premium", "source": "bench"},
    }
    data = base64.b64encode(json.dumps(message).encode()).decode()
    return json.dumps(
        {"message": {"data": data, "messageId": str(number)}, "subscription": "bench"}
    ).encode()


def load(url: str, seconds: float, concurrency: int) -> tuple[list[float], float, int]:
    """Post fresh events until `seconds` pass; returns latencies, elapsed, retry answers."""
    latencies: list[float] = []
    retries = [0]
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    def worker() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                body = envelope(next(counter))
            first = time.monotonic()
            while True:
                answer = session.post(
                    url, data=body, headers={"Content-Type": "application/json"}, timeout=30
                )
                if answer.status_code == 200:
                    break
                with lock:
                    retries[0] += 1
                time.sleep(0.1)  # Pub/Sub would redeliver later
            with lock:
                latencies.append(time.monotonic() - first)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.monotonic() - started, retries[0]


def run_mode(mode: str, sim_url: str, args: argparse.Namespace, batching: bool) -> Result:
    port = free_port()
    env = {
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS), os.environ.get("PYTHONPATH", "")]),
        "CIO_SITE_ID": SITE_ID,
        "CIO_TRACK_API_KEY": API_KEY,
        "CIO_TRACK_URL": sim_url,
        "CIO_DEAD_LETTER_TOPIC": "projects/bench/topics/cio-bench-track-dead-letter",
        "CIO_RATE_LIMIT_PER_SECOND": str(args.budget),
        "CIO_BATCH_ENABLED": "true" if batching else "false",
        "CIO_BATCH_MAX_WAIT_MS": str(args.batch_wait_ms),
        "CIO_BATCH_MAX_ITEMS": "100",
        "THREADS": str(args.concurrency),
    }
    argv = [
        sys.executable, "-m", "functions_framework", f"--source={FUNCTIONS / 'track' / 'main.py'}",
        "--target=handle", "--host=127.0.0.1", f"--port={port}",
    ]  # fmt: skip
    with running(argv, port, env=env) as proc:
        url = f"http://127.0.0.1:{port}/"
        load(url, 1.0, 4)  # warm up: imports done, pool open
        cpu_before = tree_cpu_seconds(proc.pid)
        after_warmup = requests.get(f"{sim_url}/_admin/stats", timeout=10).json()
        latencies, seconds, retries = load(url, args.seconds, args.concurrency)
        cpu = tree_cpu_seconds(proc.pid) - cpu_before
    after = requests.get(f"{sim_url}/_admin/stats", timeout=10).json()
    return Result(
        mode, len(latencies), seconds, latencies, cpu,
        after["requests"] - after_warmup["requests"],
        after["rate_limited_429"] - after_warmup["rate_limited_429"], retries,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured wall time per mode")
    parser.add_argument(
        "--budget", type=float, default=50.0, help="Track API requests/s (simulator and handler)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="simulator latency per request"
    )
    parser.add_argument("--concurrency", type=int, default=128, help="concurrent push deliveries")
    parser.add_argument("--batch-wait-ms", type=int, default=25, help="CIO_BATCH_MAX_WAIT_MS")
    args = parser.parse_args()
    sim_port = free_port()
    simulator = [
        str(Path(sys.executable).parent / "cio-simulator"), "--port", str(sim_port),
        "--site-id", SITE_ID, "--track-api-key", API_KEY,
        "--rate-limit", str(args.budget), "--latency-ms", str(args.latency_ms),
    ]  # fmt: skip
    with running(simulator, sim_port):
        sim_url = f"http://127.0.0.1:{sim_port}"
        single = run_mode("per-event", sim_url, args, batching=False)
        batched = run_mode("batching", sim_url, args, batching=True)
    print(
        f"budget {args.budget:g} requests/s, simulator latency {args.latency_ms:g} ms, "
        f"{args.concurrency} concurrent deliveries, {args.seconds:g} s per mode"
    )
    print(single.line())
    print(batched.line())
    print(f"ratio batching / per-event: {batched.per_second / single.per_second:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
