"""`cio-doctor webhook verify|replay`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cio_shared.webhooks import DEFAULT_MAX_AGE_SECONDS

from cio_doctor.cli_common import (
    EnvOpt,
    JsonOpt,
    TimeoutOpt,
    confirmer,
    finish,
    load_settings,
    webhook_app,
)
from cio_doctor.findings import Report


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
        keys = webhook.signing_keys(load_settings(env), key_file)
        return webhook.verify_report(captured, keys, max_age, at)

    finish(build, as_json, "verifying")


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
    from cio_doctor import webhook_replay

    def build() -> Report:
        settings = load_settings(env, timeout=timeout)
        if quarantine:
            return webhook_replay.from_quarantine(settings, url, limit, confirmer(yes, as_json))
        return webhook_replay.from_capture(settings, url, request, body)

    finish(build, as_json, "replaying")
