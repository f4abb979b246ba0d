"""`cio-doctor trace`: one timeline and a verdict for a person or an event."""

from __future__ import annotations

from typing import Annotated

import typer

from cio_doctor.cli_common import JsonOpt, TimeoutOpt, TraceOpt, app, fail, finish, trace_file
from cio_doctor.findings import Report


@app.command("trace")
def trace_cmd(
    env: Annotated[str, typer.Option("--env", help="Environment file: environments/<env>.yaml.")],
    person: Annotated[
        str | None, typer.Option("--person", help="The person's id or email address.")
    ] = None,
    event_id: Annotated[
        str | None, typer.Option("--event-id", help="The event id (ULID) the producer published.")
    ] = None,
    id_type: Annotated[
        str | None, typer.Option("--id-type", help="id, email or cio_id (default: from --person).")
    ] = None,
    since: Annotated[str, typer.Option("--since", help="How far back: 30m, 24h, 7d.")] = "24h",
    wait: Annotated[
        float, typer.Option("--wait", min=0.1, max=60, help="Seconds per dead-letter read.")
    ] = 2.0,
    trace: TraceOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Why didn't it arrive: our ledger, dead letters, Customer.io's person and messages, the
    reporting webhooks, on one timeline, then the first broken link and its fix."""
    from cio_doctor import trace as tracing

    if not person and not event_id:
        fail("say what to trace: --person ID|EMAIL and/or --event-id ID", as_json)
    if id_type not in (None, "id", "email", "cio_id"):
        fail(f"--id-type must be id, email or cio_id, not {id_type!r}", as_json)
    try:
        window = tracing.parse_since(since)
    except ValueError as exc:
        fail(str(exc), as_json)

    def build() -> Report:
        from cio_doctor import dlq
        from cio_doctor.cio_http import app_client
        from cio_doctor.cli_common import load_settings
        from cio_doctor.ledger import LedgerReader

        settings = load_settings(env, None, timeout)
        assert settings.env is not None
        target = dlq.target_for(settings.env, wait=wait)
        sources = tracing.Sources(
            LedgerReader(settings.env),
            target,
            dlq.subscriptions(target, settings.env, []),
            app_client(settings, trace_file(trace)) if person else None,
        )
        subject = tracing.Subject(person, event_id, id_type)
        return tracing.trace(sources, subject, window)

    finish(build, as_json, "tracing")
