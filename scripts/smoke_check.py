"""Smoke check of a deployed environment, run by the deploy workflow after an apply.

What it expects comes from the synthesized stack (`cdktf.out/stacks/<env>/cdk.tf.json`), not
from a second list kept here:
- every Pub/Sub topic and subscription the stack declares exists in the project;
- every public function (a Cloud Run invoker binding for `allUsers`: the webhook) answers
  401 to an unsigned request, i.e. it is deployed, reachable and verifies signatures.

Run locally against the emulator and a local handler with `PUBSUB_EMULATOR_HOST` and
`--public-url <name>=<url>`. Exit 0 when every check passes, 1 with findings, 2 when the
check cannot run (no synthesized stack, no credentials).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from cio_shared import google_clients

REFERENCE = re.compile(r"^\$\{google_cloudfunctions2_function\.([^.]+)\.name\}$")
UNSIGNED_BODY = b'{"event_id":"smoke-check","object_type":"email","metric":"sent"}'


@dataclass(frozen=True)
class Expectations:
    project: str
    region: str
    topics: list[str]
    subscriptions: list[str]
    public_functions: list[str]


def expectations(stack: dict[str, Any], env_file: dict[str, Any]) -> Expectations:
    resources = stack.get("resource", {})
    functions = resources.get("google_cloudfunctions2_function", {})
    public = []
    for binding in resources.get("google_cloud_run_v2_service_iam_member", {}).values():
        match = REFERENCE.match(str(binding.get("name", "")))
        if binding.get("member") == "allUsers" and match and match[1] in functions:
            public.append(functions[match[1]]["name"])
    return Expectations(
        project=env_file["project_id"],
        region=env_file.get("region", "europe-west1"),
        topics=sorted(t["name"] for t in resources.get("google_pubsub_topic", {}).values()),
        subscriptions=sorted(
            s["name"] for s in resources.get("google_pubsub_subscription", {}).values()
        ),
        public_functions=sorted(public),
    )


def missing_pubsub(expected: Expectations) -> list[str]:
    from google.api_core import exceptions

    publisher, subscriber = google_clients.publisher(), google_clients.subscriber()
    project = f"projects/{expected.project}"
    missing = []
    for kind, names in (("topic", expected.topics), ("subscription", expected.subscriptions)):
        for name in names:
            try:
                if kind == "topic":
                    publisher.get_topic(topic=f"{project}/topics/{name}")
                else:
                    subscriber.get_subscription(subscription=f"{project}/subscriptions/{name}")
            except exceptions.NotFound:
                missing.append(f"{kind} {name} does not exist")
    return missing


def unsigned_request_findings(urls: dict[str, str], timeout: float) -> list[str]:
    findings = []
    for name, url in urls.items():
        try:
            answer = requests.post(
                url,
                data=UNSIGNED_BODY,
                headers={"Content-Type": "application/json"},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            findings.append(f"{name}: {url} unreachable ({exc.__class__.__name__})")
            continue
        if answer.status_code != 401:
            findings.append(f"{name}: unsigned request answered {answer.status_code}, expected 401")
    return findings


def function_url(expected: Expectations, name: str) -> str:
    """The documented URL of a 2nd gen function: https://REGION-PROJECT.cloudfunctions.net/NAME."""
    return f"https://{expected.region}-{expected.project}.cloudfunctions.net/{name}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument(
        "--public-url",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="override a public function's URL (local runs)",
    )
    parser.add_argument("--timeout", type=float, default=10.0)
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
    from google.api_core.exceptions import GoogleAPICallError, RetryError
    from google.auth.exceptions import GoogleAuthError

    try:
        findings = missing_pubsub(expected)
    except (GoogleAPICallError, RetryError, GoogleAuthError) as exc:  # no access: cannot check
        print(
            f"smoke: cannot read Pub/Sub in {expected.project}: {exc.__class__.__name__}",
            file=sys.stderr,
        )
        return 2
    findings += unsigned_request_findings(urls, args.timeout)
    checked = len(expected.topics) + len(expected.subscriptions) + len(urls)
    for finding in findings:
        print(f"FAIL {finding}")
    print(f"smoke {args.env}: {checked - len(findings)}/{checked} checks passed")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
