"""`cio-simulator`: run the simulator, or send reporting webhooks like Customer.io does.

cio-simulator --port 8089 [--rate-limit 50] [--latency-ms 50] [--fault 500:0.1] ...
cio-simulator send-webhooks --url URL --key KEY (--events FILE | --examples)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from cio_simulator.config import ConfigError, FaultConfig, SimulatorConfig, parse_duration


def _server_parser(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8089, help="port; 0 picks a free one (printed)")
    parser.add_argument("--site-id", default=env("CIO_SITE_ID", "sim-site-id"))
    parser.add_argument("--track-api-key", default=env("CIO_TRACK_API_KEY", "sim-track-api-key"))
    parser.add_argument("--app-api-key", default=env("CIO_APP_API_KEY", "sim-app-api-key"))
    parser.add_argument(
        "--pipelines-api-key", default=env("CIO_PIPELINES_API_KEY", "sim-pipelines-api-key")
    )
    parser.add_argument("--region", choices=("us", "eu"), default=env("CIO_REGION", "us"))
    parser.add_argument(
        "--pipelines-key-region",
        choices=("us", "eu"),
        help="the region the Pipelines key belongs to (default --region); from another "
        "region's host it is refused with a 401",
    )
    parser.add_argument("--environment-id", type=int, default=1)
    parser.add_argument(
        "--rate-limit", type=float, help="Track API requests/s per workspace (token bucket)"
    )
    parser.add_argument(
        "--rate-burst", type=float, help="token bucket size (default: one second's worth)"
    )
    parser.add_argument("--app-rate-limit", type=float, help="App API requests/s (Customer.io: 10)")
    parser.add_argument(
        "--pipelines-rate-limit",
        type=float,
        help="Pipelines API requests/s (Customer.io: 3000 requests per 3 seconds)",
    )
    parser.add_argument("--no-validate", action="store_true", help="skip OpenAPI schema validation")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND:RATE",
        help="inject a fault: 500:0.1, 429:0.05, timeout:0.02, drop:0.01 (repeatable)",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    parser.add_argument(
        "--jitter-ms", type=float, default=0.0, help="added random latency, 0..N ms"
    )
    parser.add_argument(
        "--timeout-hold", default="10s", help="how long a timeout fault holds the request"
    )
    parser.add_argument(
        "--outage",
        action="append",
        default=[],
        metavar="START+DURATION",
        help="503 for every request in a window, e.g. 5s+3s (repeatable)",
    )
    parser.add_argument(
        "--fault-path", default="", help="apply faults only to paths with this prefix"
    )
    parser.add_argument(
        "--fault-after-store",
        action="store_true",
        help="injected 5xx are answered after the request was stored",
    )
    parser.add_argument("--seed", type=int, help="random seed for fault rolls")
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="print one line per API request (method, path, status, outcome, time)",
    )
    parser.add_argument("--seed-file", help="JSON file to POST to /_admin/seed at start")


def build_config(args: argparse.Namespace) -> SimulatorConfig:
    faults = FaultConfig.from_dict(
        {
            "faults": args.fault,
            "latency_ms": args.latency_ms,
            "jitter_ms": args.jitter_ms,
            "timeout_hold_seconds": parse_duration(args.timeout_hold),
            "outage": args.outage,
            "path_prefix": args.fault_path,
            "after_store": args.fault_after_store,
            "seed": args.seed,
        }
    )
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        site_id=args.site_id,
        track_api_key=args.track_api_key,
        app_api_key=args.app_api_key,
        pipelines_api_key=args.pipelines_api_key,
        region=args.region,
        pipelines_key_region=args.pipelines_key_region,
        environment_id=args.environment_id,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        app_rate_limit=args.app_rate_limit,
        pipelines_rate_limit=args.pipelines_rate_limit,
        validate_schemas=not args.no_validate,
        log_requests=args.log_requests,
        faults=faults,
    )


def serve(args: argparse.Namespace) -> int:
    from cio_simulator.server import Simulator

    simulator = Simulator(build_config(args))
    if args.seed_file:
        with open(args.seed_file, encoding="utf-8") as handle:
            simulator.catalog.seed(json.load(handle))
    signal.signal(signal.SIGTERM, lambda *_: simulator.stopping.set())
    simulator.start()
    print(f"cio-simulator listening on {simulator.url}", flush=True)
    try:
        simulator.stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


def send_webhooks(args: argparse.Namespace) -> int:
    from cio_simulator import webhook_sender
    from cio_simulator.webhook_examples import example_events

    events: list[dict[str, Any]]
    if args.examples:
        events = [example.payload for example in example_events()]
    else:
        with open(args.events, encoding="utf-8") as handle:
            loaded = json.load(handle)
        events = loaded if isinstance(loaded, list) else [loaded]
    policy = webhook_sender.RetryPolicy(
        base_delay=args.backoff_base,
        max_delay=args.backoff_max,
        max_total_seconds=args.max_total,
        timeout=args.timeout,
    )
    report = webhook_sender.send_events(args.url, args.key, events, policy)
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.complete else 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "send-webhooks":
        parser = argparse.ArgumentParser(
            prog="cio-simulator send-webhooks",
            description="POST signed reporting webhooks, retrying like Customer.io",
        )
        parser.add_argument("--url", required=True, help="webhook endpoint")
        parser.add_argument(
            "--key",
            default=os.environ.get("CIO_WEBHOOK_SIGNING_KEY"),
            help="signing key (default $CIO_WEBHOOK_SIGNING_KEY)",
        )
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--events", help="JSON file: one event or a list of events")
        source.add_argument(
            "--examples",
            action="store_true",
            help="every example payload in reporting-webhooks.openapi.json",
        )
        parser.add_argument("--timeout", type=float, default=4.0, help="seconds to wait for a 2xx")
        parser.add_argument(
            "--backoff-base", type=float, default=0.5, help="first retry delay, seconds"
        )
        parser.add_argument("--backoff-max", type=float, default=30.0, help="longest retry delay")
        parser.add_argument(
            "--max-total", type=float, default=120.0, help="give up after this many seconds"
        )
        args = parser.parse_args(argv[1:])
        if not args.key:
            parser.error("--key (or CIO_WEBHOOK_SIGNING_KEY) is required")
        return send_webhooks(args)
    parser = argparse.ArgumentParser(
        prog="cio-simulator", description="A local Customer.io simulator"
    )
    _server_parser(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except (ConfigError, FileNotFoundError) as exc:
        parser.error(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
