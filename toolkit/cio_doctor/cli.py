"""The `cio-doctor` command line: one typer app, one sub-command per check.

Heavy imports (Google clients, rich, requests) happen inside the commands so `--help` and
simple checks start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from cio_shared.webhook_signature import DEFAULT_MAX_AGE_SECONDS

from cio_doctor.findings import EXIT_CANNOT_CHECK, CannotCheck, Report

app = typer.Typer(
    help="Read-only troubleshooting for the Customer.io integration. Exit codes: 0 healthy, "
    "1 findings, 2 could not check.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
webhook_app = typer.Typer(help="Verify or replay reporting webhooks.", no_args_is_help=True)
dlq_app = typer.Typer(help="List, inspect and replay dead-lettered messages.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")
app.add_typer(dlq_app, name="dlq")

EnvOpt = Annotated[
    str | None, typer.Option("--env", help="Environment file: environments/<env>.yaml.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="Per-call timeout, seconds.")]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="us or eu (default: env file or CIO_REGION).")
]
TraceOpt = Annotated[
    Path | None, typer.Option("--trace", help="Append every API call as JSON lines.")
]


def _finish(build: Callable[[], Report], as_json: bool, label: str) -> None:
    """Run a report builder with a progress display; print it; exit with its code."""
    from cio_doctor import output

    try:
        with output.progress(label, quiet=as_json):
            report = build()
    except CannotCheck as exc:
        _fail(str(exc), as_json)
    raise typer.Exit(output.emit(report, as_json))


def _fail(message: str, as_json: bool) -> None:
    from cio_doctor import output

    if as_json:
        sys.stdout.write(
            json.dumps({"status": "not_checked", "exit_code": EXIT_CANNOT_CHECK, "error": message})
            + "\n"
        )
    output.error(message)
    raise typer.Exit(EXIT_CANNOT_CHECK)


def _settings(env: str | None, region: str | None = None, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    from cio_doctor.config import settings

    return settings(env, region, timeout)


# ---------------------------------------------------------------- webhook


@webhook_app.command("verify")
def webhook_verify(
    request: Annotated[
        str | None, typer.Option("--request", "-r", help="Raw HTTP request file, or - for stdin.")
    ] = None,
    headers: Annotated[
        str | None, typer.Option("--headers", help="Headers file ('Name: value' lines or JSON).")
    ] = None,
    body: Annotated[
        str | None, typer.Option("--body", help="Raw body file, or - for stdin.")
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="Signing key file (default: CIO_WEBHOOK_SIGNING_KEY or the env's secret).",
        ),
    ] = None,
    max_age: Annotated[
        int,
        typer.Option(
            "--max-age", min=1, help="Accepted timestamp age, seconds (default: the handler's)."
        ),
    ] = DEFAULT_MAX_AGE_SECONDS,
    at: Annotated[
        int | None, typer.Option("--at", help="Verify as of this Unix time (for old captures).")
    ] = None,
    env: EnvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a captured webhook's signature and explain a failure; count and check its events."""
    from cio_doctor import capture, webhook

    def build() -> Report:
        captured = capture.load(request, headers, body)
        keys = webhook.signing_keys(_settings(env), key_file)
        return webhook.verify_report(captured, keys, max_age, at)

    _finish(build, as_json, "verifying")


@webhook_app.command("replay")
def webhook_replay(
    url: Annotated[str, typer.Option("--url", help="The webhook handler URL to send to.")],
    request: Annotated[
        str | None, typer.Option("--request", "-r", help="Raw HTTP request file, or - for stdin.")
    ] = None,
    body: Annotated[
        str | None, typer.Option("--body", help="Raw body file, or - for stdin.")
    ] = None,
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine", help="Replay events from the env's webhook-quarantine subscription."
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Most quarantined events to replay.")
    ] = 50,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    env: EnvOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Send a captured or quarantined event to a handler URL, signed now with the signing key."""
    from cio_doctor import replay_webhook

    def build() -> Report:
        settings = _settings(env, timeout=timeout)
        if quarantine:
            return replay_webhook.from_quarantine(settings, url, limit, _confirm(yes, as_json))
        return replay_webhook.from_capture(settings, url, request, body)

    _finish(build, as_json, "replaying")


def _confirm(yes: bool, as_json: bool) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        if yes:
            return True
        if as_json or not sys.stdin.isatty():
            raise CannotCheck(f"{question} needs confirmation: run it again with --yes")
        from cio_doctor.output import suspend_progress

        suspend_progress()
        return typer.confirm(question, default=False, err=True)

    return ask


# ---------------------------------------------------------------- dlq

SubOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--subscription",
        "-s",
        help="Purpose (track-dead-letter, webhook-quarantine, ...) or full name; repeatable. "
        "Default: every dead-letter subscription.",
    ),
]
PrefixOpt = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        help="Resource prefix cio-<env> when no --env file is used (with GOOGLE_CLOUD_PROJECT).",
    ),
]
WaitOpt = Annotated[
    float,
    typer.Option("--wait", min=0.1, max=60, help="Seconds to wait on an empty subscription."),
]
LimitOpt = Annotated[
    int, typer.Option("--limit", min=1, max=10000, help="Most messages read per subscription.")
]


def _dlq_target(env: str | None, prefix: str | None, chosen: list[str] | None, wait: float):  # type: ignore[no-untyped-def]
    from cio_doctor import dlq
    from cio_doctor.config import load_env_file

    env_file = load_env_file(env) if env else None
    target = dlq.target_for(env_file, prefix, wait)
    return target, dlq.subscriptions(target, env_file, chosen or [])


@dlq_app.command("list")
def dlq_list(
    env: EnvOpt = None,
    prefix: PrefixOpt = None,
    subscription: SubOpt = None,
    limit: LimitOpt = 500,
    wait: WaitOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """List dead letters with reason and attempts (reads without acknowledging)."""
    from cio_doctor import dlq

    def build() -> Report:
        target, subs = _dlq_target(env, prefix, subscription, wait)
        return dlq.list_report(target, subs, limit)

    _finish(build, as_json, "reading dead letters")


@dlq_app.command("inspect")
def dlq_inspect(
    message_id: Annotated[str, typer.Argument(help="The dead letter's message id.")],
    env: EnvOpt = None,
    prefix: PrefixOpt = None,
    subscription: SubOpt = None,
    limit: LimitOpt = 1000,
    wait: WaitOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Show one dead letter: attributes, reason, attempts and payload (not acknowledged)."""
    from cio_doctor import dlq

    def build() -> Report:
        target, subs = _dlq_target(env, prefix, subscription, wait)
        return dlq.inspect_report(target, subs, message_id, limit)

    _finish(build, as_json, "searching dead letters")


@dlq_app.command("replay")
def dlq_replay(
    reason: Annotated[
        list[str] | None,
        typer.Option(
            "--reason",
            help="Only dead letters with this cio_reason (repeatable); "
            "max_delivery_attempts for Pub/Sub's own.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be replayed; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    env: EnvOpt = None,
    prefix: PrefixOpt = None,
    subscription: SubOpt = None,
    limit: LimitOpt = 1000,
    wait: WaitOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Re-publish dead letters to their source topic; ack each only after its publish succeeded."""
    from cio_doctor import dlq, output

    reasons = reason or []

    def build() -> Report:
        target, subs = _dlq_target(env, prefix, subscription, wait)
        plan, count = dlq.plan_replay(target, subs, reasons, limit)
        if dry_run or count == 0:
            return plan
        if not as_json:
            output.render(plan)
        if not _confirm(yes, as_json)(f"Re-publish {count} dead letter(s)?"):
            raise CannotCheck("replay cancelled; nothing was changed")
        return dlq.replay_report(target, subs, reasons, limit)

    _finish(build, as_json, "replaying dead letters")


# ---------------------------------------------------------------- Customer.io APIs


def _trace(path: Path | None):  # type: ignore[no-untyped-def]
    from cio_doctor.cio_http import Trace

    return Trace(path) if path else None


@app.command("api")
def api_cmd(
    target: Annotated[str, typer.Argument(help="probe | track | app")],
    method: Annotated[str, typer.Argument(help="HTTP method (track/app).")] = "GET",
    path: Annotated[str | None, typer.Argument(help="Path, e.g. /v1/campaigns/3.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Query parameter key=value.")
    ] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="JSON body, or @file.")] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Allow a method that changes data (not GET).")
    ] = False,
    trace: TraceOpt = None,
    env: EnvOpt = None,
    region: RegionOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Make one Track or App API call (or `probe`: a harmless GET on each) and show it all.

    Shows the request with credentials redacted, status, latency, Customer.io's error and
    request id. Read-only unless --write.
    """
    from cio_doctor import api_call
    from cio_doctor.cio_http import app_client, track_client

    def build() -> Report:
        settings = _settings(env, region, timeout)
        recorder = _trace(trace)
        if target == "probe":
            clients = {
                "track": track_client(settings, recorder),
                "app": app_client(settings, recorder),
            }
            calls: list[api_call.CallSpec] = [
                (api, "GET", p, {}, None) for api, p in api_call.PROBES.items()
            ]
            return api_call.run_calls(clients, calls)
        if target not in ("track", "app"):
            raise CannotCheck(f"target must be probe, track or app, not {target!r}")
        if not path:
            raise CannotCheck(f"give a path: cio-doctor api {target} GET /path")
        verb = method.upper()
        if verb != "GET" and not write:
            raise CannotCheck(f"{verb} changes data in Customer.io: add --write if you mean it")
        factory = track_client if target == "track" else app_client
        body = api_call.parse_body(data)
        params = api_call.parse_params(param or [])
        return api_call.run_calls(
            {target: factory(settings, recorder)}, [(target, verb, path, params, body)]
        )

    _finish(build, as_json, "calling Customer.io")


@app.command("user")
def user_cmd(
    who: Annotated[str, typer.Argument(help="The person's id, or their email address.")],
    id_type: Annotated[
        str | None, typer.Option("--id-type", help="id | email | cio_id (default: guessed).")
    ] = None,
    trace: TraceOpt = None,
    env: EnvOpt = None,
    region: RegionOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Why a person does (not) get messages: identifiers, email, suppression, unsubscribe,
    recent messages and activities, segments."""
    from cio_doctor import person
    from cio_doctor.cio_http import app_client

    if id_type not in (None, "id", "email", "cio_id"):
        _fail(f"--id-type must be id, email or cio_id, not {id_type!r}", as_json)

    def build() -> Report:
        client = app_client(_settings(env, region, timeout), _trace(trace))
        return person.diagnose(client, who, id_type)

    _finish(build, as_json, "looking up the person")


@app.command("campaign")
def campaign_cmd(
    campaign_id: Annotated[int, typer.Argument(help="The campaign id (from its URL).", min=1)],
    trace: TraceOpt = None,
    env: EnvOpt = None,
    region: RegionOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """State, trigger, audience, recent sends and metrics, per-action delivery errors."""
    from cio_doctor import campaign
    from cio_doctor.cio_http import app_client

    def build() -> Report:
        client = app_client(_settings(env, region, timeout), _trace(trace))
        return campaign.diagnose(client, campaign_id)

    _finish(build, as_json, "reading the campaign")


# ---------------------------------------------------------------- secrets


@app.command("secrets")
def secrets_cmd(
    env: Annotated[str, typer.Option("--env", help="Environment file: environments/<env>.yaml.")],
    as_json: JsonOpt = False,
) -> None:
    """Which secret version each handler runs, against the latest enabled version.

    Values injected as environment variables refresh only on new instances: roll a new
    revision after adding a version (see toolkit/README.md, "Rotating a secret").
    """
    from cio_doctor import rotation
    from cio_doctor.config import load_env_file

    def build() -> Report:
        return rotation.rotation_report(load_env_file(env), rotation.CloudRunServices())

    _finish(build, as_json, "reading secret versions")


# ---------------------------------------------------------------- incident


@app.command("incident")
def incident_cmd(
    priority: Annotated[
        str, typer.Argument(help="P1 outage | P2 error rate | P3 delivery | P4 webhooks")
    ],
    user: Annotated[str | None, typer.Option("--user", help="An affected person (P3).")] = None,
    campaign: Annotated[
        int | None, typer.Option("--campaign", help="The affected campaign (P3).")
    ] = None,
    capture: Annotated[
        str | None, typer.Option("--capture", help="A rejected webhook request file (P4).")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the Markdown and JSON report.")
    ] = Path("reports"),
    ca_file: Annotated[str | None, typer.Option("--ca-file", help="Extra CA bundle.")] = None,
    status_url: Annotated[
        str | None, typer.Option("--status-url", help="Status page JSON.")
    ] = None,
    observed_rps: Annotated[float | None, typer.Option("--observed-rps", min=0)] = None,
    budget: Annotated[int | None, typer.Option("--budget", min=1, help="Request budget/s.")] = None,
    wait: WaitOpt = 2.0,
    trace: TraceOpt = None,
    env: EnvOpt = None,
    region: RegionOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Run the runbook for a priority and write a Markdown + JSON report with findings."""
    from cio_doctor import incident

    level = priority.upper()
    if level not in incident.RUNBOOKS:
        _fail(f"priority must be one of {', '.join(incident.RUNBOOKS)}, not {priority!r}", as_json)

    def build() -> Report:
        inputs = incident.Inputs(
            _settings(env, region, timeout),
            user,
            campaign,
            capture,
            ca_file,
            status_url,
            observed_rps,
            wait,
            budget,
            _trace(trace),
        )
        report = incident.run(level, inputs)
        md, js = incident.write(level, report, out)
        if not as_json:
            from cio_doctor.output import note

            note(f"report written: {md} and {js}")
        return report

    _finish(build, as_json, f"running the {level} runbook")


# ---------------------------------------------------------------- network


@app.command("network")
def network_cmd(
    samples: Annotated[
        int, typer.Option("--samples", min=1, max=100, help="HTTP probes per API.")
    ] = 5,
    ca_file: Annotated[
        str | None, typer.Option("--ca-file", help="Extra CA bundle (a TLS-intercepting proxy).")
    ] = None,
    status_url: Annotated[
        str | None, typer.Option("--status-url", help="Status page summary JSON (CIO_STATUS_URL).")
    ] = None,
    observed_rps: Annotated[
        float | None,
        typer.Option(
            "--observed-rps", min=0, help="Observed requests/s (default: Cloud Monitoring)."
        ),
    ] = None,
    budget: Annotated[
        int | None, typer.Option("--budget", min=1, help="Request budget/s (default: env file).")
    ] = None,
    env: EnvOpt = None,
    region: RegionOpt = None,
    timeout: TimeoutOpt = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """DNS, TCP, TLS chain and expiry, HTTP latency percentiles, rate-limit headroom, status page.

    Hosts come from the region, or CIO_TRACK_URL / CIO_APP_URL. Nothing is written to Customer.io.
    """
    from cio_doctor.network_report import network_report

    def build() -> Report:
        settings = _settings(env, region, timeout)
        return network_report(settings, samples, ca_file, status_url, observed_rps, budget)

    _finish(build, as_json, "checking the network")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
