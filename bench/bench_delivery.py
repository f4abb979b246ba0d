"""Delivery throughput: one request per event vs micro-batching, and the adaptive budget.

The simulator enforces a Track API budget scaled to this 2-core machine (default 50 requests/s)
and answers with realistic latency (default 50 ms). The track handler runs under the real
functions-framework with CIO_RATE_LIMIT_PER_SECOND = the whole budget (one instance), and a
load generator posts real push envelopes with the concurrency Pub/Sub push would use, resending
a delivery answered with an error after a short pause (as Pub/Sub redelivers).

Scenario `batching`: per-event vs batching, each for the same wall time; printed: delivered
events/s, the ratio, p50/p99 delivery latency (first push to delivered, retries included),
Track API requests per event and handler CPU per delivered event (its process tree, from
/proc; it includes the work on deliveries answered `retry` by the local rate limit).

The floor (`bare-*` in the batching scenario): a bare functions-framework function on the same
server settings, load generator and concurrency, that reads the body and answers after the
batching run's median latency (so requests arrive at about the same rate): what the server
costs per request before any handler work, on functions-framework's WSGI server (Flask on
gunicorn threads) and on its ASGI server (Starlette on uvicorn), which the handlers run on.
`handler over it` is the difference from the ASGI floor.

Scenario `apis`: the Track API and the Pipelines API side by side, batching on, under the same
request budget (the simulator limits each API to it, the handler's budget is the same), one run;
then the Pipelines path behind its Firestore guard (pipelines_guard: a read before, a write after
each delivery) against Google's Firestore emulator when it is installed. Printed per API:
events/s, requests per event, CPU per event (the handler's process tree; the emulator's CPU is
not counted), and the ratios to the Track API.

Scenario `throttled`: Customer.io throttling below the budget. The simulator's limit is half of
the handler's configured budget; one request per event (so the Track API limit is what binds),
with CIO_RATE_LIMIT_ADAPTIVE off (a fixed rate: today) and on. Printed: 429s per delivered event
and accepted requests/s as a share of the simulator's limit.

The load generator is asyncio on raw keep-alive connections with envelopes built before the
clock starts, so that on a 2-core machine the client takes as little CPU as it can from the
handler it measures.

    .venv/bin/python bench/bench_delivery.py [--scenario all|batching|throttled|apis] [--seconds 10]
        [--throttled-seconds 30] [--budget 50] [--latency-ms 50] [--concurrency 128]
        [--batch-wait-ms 25] [--max-wait-ms N]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from cio_shared.messages import new_event_id  # noqa: E402
from loadgen import post, run_timed  # noqa: E402  (bench/, the script's folder)

from tests.support.processes import FUNCTIONS, free_port, running  # noqa: E402

SITE_ID, API_KEY = "bench-site", "bench-key"
# The floor: functions-framework alone, answering a push after a fixed wait (BARE_WAIT_MS), on
# its WSGI server (Flask on gunicorn's threads: what the handlers ran on before) and on its
# ASGI server (Starlette on uvicorn: what track and identify run on now).
BARE = {
    "bare-wsgi": """
import json
import os
import time

import functions_framework

WAIT = float(os.environ["BARE_WAIT_MS"]) / 1000
ANSWER = json.dumps({"decision": "delivered", "reason": "ok"})


@functions_framework.http
def handle(request):
    request.get_data(cache=False)
    time.sleep(WAIT)
    return ANSWER, 200, {"Content-Type": "application/json"}
""",
    "bare-asgi": """
import asyncio
import json
import os

import functions_framework.aio
from starlette.responses import Response

WAIT = float(os.environ["BARE_WAIT_MS"]) / 1000
ANSWER = json.dumps({"decision": "delivered", "reason": "ok"})


@functions_framework.aio.http
async def handle(request):
    await request.body()
    await asyncio.sleep(WAIT)
    return Response(ANSWER, 200, media_type="application/json")
""",
}
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

    @property
    def cpu_ms_per_event(self) -> float:
        return self.cpu_seconds / max(1, self.delivered) * 1000

    @property
    def accepted_per_second(self) -> float:
        return (self.requests - self.rate_limited) / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return (
            ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
            if ordered
            else float("nan")
        )

    def line(self) -> str:
        return (
            f"{self.mode:<12} {self.per_second:8.1f} events/s  p50 {self.quantile(0.5):7.1f} ms  "
            f"p99 {self.quantile(0.99):7.1f} ms  cpu {self.cpu_ms_per_event:6.3f} ms/event  "
            f"{self.requests / max(1, self.delivered):6.3f} requests/event  "
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


def http_requests(port: int, prepared: int) -> Iterator[bytes]:
    """Complete HTTP/1.1 POSTs of fresh envelopes: `prepared` built now, before the clock
    starts, then more built on demand."""

    def build() -> Iterator[bytes]:
        for number in itertools.count():
            yield post(port, envelope(number), {"Content-Type": "application/json"})

    fresh = build()
    return itertools.chain(list(itertools.islice(fresh, prepared)), fresh)


def run_mode(
    mode: str,
    sim_url: str,
    args: argparse.Namespace,
    *,
    batching: bool,
    adaptive: bool = True,
    seconds: float | None = None,
    prepared: int = 20_000,
    api_env: dict[str, str] | None = None,
    source: Path = FUNCTIONS / "track" / "main.py",
) -> Result:
    """`api_env`: variables for the Pipelines API (`pipelines_env`); the Track API without.
    `source`: the function functions-framework serves (the track handler, or the bare floor)."""
    seconds = args.seconds if seconds is None else seconds
    port = free_port()
    env = {
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS), os.environ.get("PYTHONPATH", "")]),
        "CIO_SITE_ID": SITE_ID,
        "CIO_TRACK_API_KEY": API_KEY,
        "CIO_TRACK_URL": sim_url,
        "CIO_DEAD_LETTER_TOPIC": "projects/bench/topics/cio-bench-track-dead-letter",
        "CIO_RATE_LIMIT_PER_SECOND": str(args.budget),
        "CIO_RATE_LIMIT_ADAPTIVE": "true" if adaptive else "false",
        "CIO_BATCH_ENABLED": "true" if batching else "false",
        "CIO_BATCH_MAX_WAIT_MS": str(args.batch_wait_ms),
        "CIO_BATCH_MAX_ITEMS": "100",
        "THREADS": str(args.concurrency),
        **({"CIO_RATE_LIMIT_MAX_WAIT_MS": str(args.max_wait_ms)} if args.max_wait_ms else {}),
        **(api_env or {}),
    }
    argv = [
        sys.executable, "-m", "functions_framework", f"--source={source}",
        "--target=handle", "--host=127.0.0.1", f"--port={port}",
    ]  # fmt: skip
    requests.post(f"{sim_url}/_admin/reset", timeout=10).raise_for_status()  # full buckets
    work = http_requests(port, prepared)
    with running(argv, port, env=env) as proc:
        run_timed(port, 1.0, 4, work)  # warm up: imports done, pool open
        cpu_before = tree_cpu_seconds(proc.pid)
        after_warmup = requests.get(f"{sim_url}/_admin/stats", timeout=10).json()
        latencies, elapsed, retries = run_timed(port, seconds, args.concurrency, work)
        cpu = tree_cpu_seconds(proc.pid) - cpu_before
        after = requests.get(f"{sim_url}/_admin/stats", timeout=10).json()
    return Result(
        mode, len(latencies), elapsed, latencies, cpu,
        after["requests"] - after_warmup["requests"],
        after["rate_limited_429"] - after_warmup["rate_limited_429"], retries,
    )  # fmt: skip


def simulator(port: int, args: argparse.Namespace, limit: float) -> list[str]:
    """Both APIs with the same request budget: `limit` requests/s each."""
    return [
        str(Path(sys.executable).parent / "cio-simulator"), "--port", str(port),
        "--site-id", SITE_ID, "--track-api-key", API_KEY, "--pipelines-api-key", API_KEY,
        "--rate-limit", f"{limit:g}", "--pipelines-rate-limit", f"{limit:g}",
        "--latency-ms", str(args.latency_ms),
    ]  # fmt: skip


def pipelines_env(sim_url: str, database: str = "") -> dict[str, str]:
    """The handler on the Pipelines API; with `database`, behind its Firestore guard."""
    env = {
        "CIO_DELIVERY_API": "pipelines",
        "CIO_PIPELINES_API_KEY": API_KEY,
        "CIO_PIPELINES_URL": sim_url,
    }
    if database:
        env["CIO_FIRESTORE_DATABASE"] = database
        env["FIRESTORE_EMULATOR_HOST"] = os.environ["FIRESTORE_EMULATOR_HOST"]
        env["GOOGLE_CLOUD_PROJECT"] = "bench"
    return env


def apis_scenario(args: argparse.Namespace) -> None:
    """Track API vs Pipelines API, batching on, under the same request budget, in one run; and
    the Pipelines path behind its Firestore guard when the emulator is installed."""
    from tests.support.firestore import firestore_available, firestore_emulator

    sim_port = free_port()
    with running(simulator(sim_port, args, args.budget), sim_port):
        sim_url = f"http://127.0.0.1:{sim_port}"
        results = [
            run_mode("track", sim_url, args, batching=True),
            run_mode("pipelines", sim_url, args, batching=True, api_env=pipelines_env(sim_url)),
        ]
        if firestore_available():
            with firestore_emulator() as host:
                os.environ["FIRESTORE_EMULATOR_HOST"] = host
                guarded = pipelines_env(sim_url, database=f"bench-{time.time_ns()}")
                results.append(
                    run_mode("pipelines+fs", sim_url, args, batching=True, api_env=guarded)
                )
    print(
        f"APIs: budget {args.budget:g} requests/s on each API, simulator latency "
        f"{args.latency_ms:g} ms, batching on, {args.concurrency} concurrent deliveries, "
        f"{args.seconds:g} s per mode"
    )
    for result in results:
        print(result.line())
    track = results[0]
    for other in results[1:]:
        print(
            f"ratio {other.mode} / track: events/s {other.per_second / track.per_second:.2f}x, "
            f"requests/event {_per_event(other) / max(_per_event(track), 1e-9):.2f}x, "
            f"CPU/event {other.cpu_ms_per_event / track.cpu_ms_per_event:.2f}x"
        )


def _per_event(result: Result) -> float:
    return result.requests / max(1, result.delivered)


def batching_scenario(args: argparse.Namespace) -> None:
    sim_port = free_port()
    with running(simulator(sim_port, args, args.budget), sim_port):
        sim_url = f"http://127.0.0.1:{sim_port}"
        single = run_mode("per-event", sim_url, args, batching=False, prepared=2_000)
        batched = run_mode("batching", sim_url, args, batching=True)
        os.environ["BARE_WAIT_MS"] = f"{batched.quantile(0.5):.1f}"
        bare = []
        with tempfile.TemporaryDirectory() as scratch:
            for name, text in BARE.items():
                source = Path(scratch) / f"{name.replace('-', '_')}.py"
                source.write_text(text)
                bare.append(run_mode(name, sim_url, args, batching=False, source=source))
    print(
        f"budget {args.budget:g} requests/s, simulator latency {args.latency_ms:g} ms, "
        f"{args.concurrency} concurrent deliveries, {args.seconds:g} s per mode; bare: "
        f"functions-framework alone (WSGI and ASGI servers), answering after the batching "
        f"run's p50"
    )
    for result in (single, batched, *bare):
        print(result.line())
    floor = bare[-1]  # the server the handlers run on
    print(
        f"ratio batching / per-event: {batched.per_second / single.per_second:.1f}x; "
        f"batching: {batched.cpu_ms_per_event:.3f} ms CPU per delivered event "
        f"(bare {floor.mode} {floor.cpu_ms_per_event:.3f} ms per request, handler over it "
        f"{batched.cpu_ms_per_event - floor.cpu_ms_per_event:.3f} ms; bare {bare[0].mode} "
        f"{bare[0].cpu_ms_per_event:.3f} ms), "
        f"{batched.requests / max(1, batched.delivered):.4f} Track API requests per event"
    )


def throttled_scenario(args: argparse.Namespace) -> None:
    limit = args.budget / 2
    sim_port = free_port()
    results = []
    with running(simulator(sim_port, args, limit), sim_port):
        sim_url = f"http://127.0.0.1:{sim_port}"
        for adapts in (False, True):
            name = "adaptive" if adapts else "fixed"
            results.append(
                run_mode(
                    name,
                    sim_url,
                    args,
                    batching=False,
                    adaptive=adapts,
                    seconds=args.throttled_seconds,
                    prepared=4_000,
                )
            )
    print(
        f"throttled: handler budget {args.budget:g} requests/s, simulator limit {limit:g} "
        f"requests/s, one request per event, {args.concurrency} concurrent deliveries, "
        f"{args.throttled_seconds:g} s per mode"
    )
    for result in results:
        print(result.line())
        per_event = result.rate_limited / max(1, result.delivered)
        print(
            f"{'':<12} 429s per delivered event {per_event:.3f}"
            f", accepted {result.accepted_per_second:.1f} requests/s = "
            f"{result.accepted_per_second / limit:.0%} of the simulator's limit"
        )
    fixed, adaptive = results
    fixed_rate = fixed.rate_limited / max(1, fixed.delivered)
    adaptive_rate = adaptive.rate_limited / max(1, adaptive.delivered)
    print(
        f"ratio adaptive / fixed: 429s per delivered event "
        f"{adaptive_rate / fixed_rate if fixed_rate else float('nan'):.3f}x, "
        f"throughput {adaptive.per_second / fixed.per_second:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        choices=("all", "batching", "throttled", "apis"),
        default="all",
        help="what to run",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured wall time per mode")
    parser.add_argument(
        "--throttled-seconds", type=float, default=30.0, help="wall time per throttled mode"
    )
    parser.add_argument(
        "--budget", type=float, default=50.0, help="Track API requests/s (simulator and handler)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="simulator latency per request"
    )
    parser.add_argument("--concurrency", type=int, default=128, help="concurrent push deliveries")
    parser.add_argument("--batch-wait-ms", type=int, default=25, help="CIO_BATCH_MAX_WAIT_MS")
    parser.add_argument(
        "--max-wait-ms",
        type=int,
        default=0,
        help="CIO_RATE_LIMIT_MAX_WAIT_MS (default: the handler's own)",
    )
    args = parser.parse_args()
    if args.scenario in ("all", "batching"):
        batching_scenario(args)
    if args.scenario in ("all", "throttled"):
        throttled_scenario(args)
    if args.scenario in ("all", "apis"):
        apis_scenario(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
