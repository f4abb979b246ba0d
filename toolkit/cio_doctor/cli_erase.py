"""`cio-doctor erase`: erase a person from every copy (dry run unless --yes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cio_doctor.cli_common import JsonOpt, TimeoutOpt, WaitOpt, app, finish, load_settings
from cio_doctor.findings import Report


@app.command("erase")
def erase_cmd(
    env: Annotated[str, typer.Option("--env", help="Environment file: environments/<env>.yaml.")],
    person: Annotated[
        str | None,
        typer.Option("--person", help="id, email, or kind:value (id:42, email:a@b.c, cio_id:x)."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="CSV file: one identifier per row (first cell).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="suppress: delete the profile and block the identifier for good; delete: the "
            "same, then unsuppress the identifier once the request is complete.",
        ),
    ] = "suppress",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Act; without it, a dry run.")] = False,
    settle_minutes: Annotated[
        int,
        typer.Option(
            "--settle-minutes",
            min=0,
            help="Minutes after the Customer.io step before a request may complete (late events "
            "and log rows). Default 120: the ledger's streaming buffer and the push retries.",
        ),
    ] = 120,
    cio_wait: Annotated[
        float,
        typer.Option("--cio-wait", min=0, max=600, help="Seconds to wait for the profile to go."),
    ] = 60.0,
    requested_by: Annotated[
        str | None, typer.Option("--requested-by", help="Who asked for it (audit; no email).")
    ] = None,
    wait: WaitOpt = 2.0,
    timeout: TimeoutOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Erase a person from Customer.io, BigQuery and the keeper subscriptions, with proof.

    Dry run by default. Resumable: run it again with the same identifiers to continue; exit
    code 1 while any part is pending. See toolkit/README.md, "Erasing a person".
    """
    from datetime import timedelta

    from cio_shared.common import bigquery_client, subscriber

    from cio_doctor import erase, erase_request
    from cio_doctor.cio_http import app_client
    from cio_doctor.config import ConfigError
    from cio_doctor.erase_audit import AuditStore
    from cio_doctor.erase_windows import raw_env, setting
    from cio_doctor.gcloud import google_client

    def build() -> Report:
        if mode not in erase_request.MODES:
            raise ConfigError(f"--mode must be suppress or delete, not {mode!r}")
        subjects = erase_request.subjects(person, file)
        raw = raw_env(env)
        settings = load_settings(env, timeout=timeout)
        target = settings.env
        if target is None:
            raise ConfigError("--env names the environment to erase from")
        client = google_client(lambda: bigquery_client(target.project_id), "BigQuery")
        ctx = erase.Context(
            env=target,
            app=app_client(settings),
            bigquery=client,
            subscriber=google_client(subscriber, "Pub/Sub"),
            audit=AuditStore.for_env(client, target, setting(raw, "bigquery", "location")),
            mode=mode,
            act=yes,
            settle=timedelta(minutes=settle_minutes),
            cio_wait=cio_wait,
            scan_wait=wait,
            requested_by=requested_by or "",
            env_settings=raw,
        )
        return erase.erase(ctx, subjects)

    finish(build, as_json, "erasing" if yes else "planning the erasure")
