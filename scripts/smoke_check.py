"""Smoke check of a deployed environment, run by the deploy workflow after an apply.

What it expects comes from the synthesized stack (`cdktf.out/stacks/<env>/cdk.tf.json`), not
from a second list kept here (scripts/smoke_stack.py). It checks that:
- every Pub/Sub topic and subscription the stack declares exists in the project;
- every public function (a Cloud Run invoker binding for `allUsers`: the webhook) answers
  401 to an unsigned request, i.e. it is deployed, reachable and verifies signatures;
- the webhook accepts (200) one unique event signed as Customer.io signs it, with the key
  from Secret Manager (scripts/smoke_webhook.py);
- that event's row arrives in the BigQuery table within --wait-seconds, with its JSON columns
  as objects, or, if it is dead-lettered, the reason is reported; and the BigQuery
  subscription's `bigquery_config.state` is ACTIVE (scripts/smoke_landing.py).

Local runs: `PUBSUB_EMULATOR_HOST`, `BIGQUERY_API_ENDPOINT`, `SECRETMANAGER_API_ENDPOINT` (or
`CIO_WEBHOOK_SIGNING_KEY`) and `--public-url <name>=<url>`. Exit 0 when every check passes, 1
with findings, 2 when a check cannot run (no synthesized stack, no access). The signing key is
never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

if __package__ in (None, ""):  # run as `python scripts/smoke_check.py`: import as `scripts.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cio_shared.common import google_clients

from scripts.smoke_landing import subscription_state, wait_for_landing
from scripts.smoke_report import Report
from scripts.smoke_stack import Expectations, expectations, function_url
from scripts.smoke_webhook import (
    KeyUnavailable,
    send_signed,
    signing_key,
    smoke_event,
    unsigned_request_checks,
)

UNREACHABLE = "run as an identity with roles/pubsub.viewer in the project; check network access"


def pubsub_checks(report: Report, expected: Expectations) -> None:
    from google.api_core import exceptions

    publisher, subscriber = google_clients.publisher(), google_clients.subscriber()
    project = f"projects/{expected.project}"
    for kind, names in (("topic", expected.topics), ("subscription", expected.subscriptions)):
        for name in names:
            try:
                if kind == "topic":
                    publisher.get_topic(topic=f"{project}/topics/{name}", timeout=20)
                else:
                    subscriber.get_subscription(
                        subscription=f"{project}/subscriptions/{name}", timeout=20
                    )
            except exceptions.NotFound:
                report.failed(f"{kind} {name}", "does not exist", "re-apply the stack")
            else:
                report.passed(f"{kind} {name}", "exists")


def round_trip(
    report: Report,
    expected: Expectations,
    urls: dict[str, str],
    args: argparse.Namespace,
    secrets: list[str],
) -> None:
    """Signed event -> webhook -> table (or dead letter). The key goes into `secrets`, which
    the report redacts."""
    webhook, sink = expected.webhook, expected.sink
    if webhook is None or webhook.function not in urls:
        report.unchecked(
            "signed event",
            "the stack deploys no public webhook (deploy_handlers: false?)",
            "deploy the handlers, then run the smoke check again",
        )
        return
    try:
        key = signing_key(expected.project, webhook)
    except KeyUnavailable as exc:
        (report.failed if exc.finding else report.unchecked)("signing key", exc.detail, exc.fix)
        return
    secrets.append(key)
    event = smoke_event()
    accepted = send_signed(
        report, webhook.function, urls[webhook.function], key, event, args.timeout
    )
    if sink is None:
        report.unchecked("BigQuery row", "the stack has no BigQuery subscription", "re-synthesize")
    elif accepted:
        wait_for_landing(
            report, expected.project, sink, event.event_id, args.wait_seconds, args.poll_seconds
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument(
        "--public-url",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="override a public function's URL (local runs)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="per HTTP request")
    parser.add_argument(
        "--wait-seconds", type=float, default=180.0, help="how long to wait for the row"
    )
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    stack_path = args.root / "cdktf.out" / "stacks" / args.env / "cdk.tf.json"
    env_path = args.root / "environments" / f"{args.env}.yaml"
    try:
        stack = json.loads(stack_path.read_text(encoding="utf-8"))
        env_file = yaml.safe_load(env_path.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"smoke: cannot read {exc.filename}: run `make synth` first", file=sys.stderr)
        return 2
    expected = expectations(stack, env_file)
    overrides = dict(item.split("=", 1) for item in args.public_url)
    urls = {n: overrides.get(n, function_url(expected, n)) for n in expected.public_functions}
    report = Report(args.env)
    secrets: list[str] = []
    from google.api_core.exceptions import GoogleAPICallError, RetryError
    from google.auth.exceptions import GoogleAuthError

    try:
        pubsub_checks(report, expected)
        unsigned_request_checks(report, urls, args.timeout)
        if expected.sink is not None:
            subscription_state(report, expected.project, expected.sink)
        round_trip(report, expected, urls, args, secrets)
    except (GoogleAPICallError, RetryError, GoogleAuthError) as exc:  # no access: cannot check
        report.unchecked(
            "Pub/Sub",
            f"cannot reach Pub/Sub in {expected.project} ({type(exc).__name__})",
            UNREACHABLE,
        )
    print(report.render(args.json, secrets))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
