"""`cio-doctor api|user|campaign`: the Customer.io API commands."""

from __future__ import annotations

from typing import Annotated

import typer

from cio_doctor.cli_common import (
    EnvOpt,
    JsonOpt,
    RegionOpt,
    TimeoutOpt,
    TraceOpt,
    app,
    fail,
    finish,
    load_settings,
    trace_file,
)
from cio_doctor.findings import CannotCheck, Report


@app.command("api")
def api_cmd(
    target: Annotated[str, typer.Argument(help="probe | track | app | pipelines")],
    method: Annotated[str, typer.Argument(help="HTTP method (track/app/pipelines).")] = "GET",
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
    """Make one Track, App or Pipelines API call (or `probe`) and show it all.

    `probe`: a harmless call on each API the environment uses (customerio.api): the Track API's
    region, or the Pipelines key in strict mode (a key from the other region or workspace is
    named), and the App API. Shows the request with credentials redacted, status, latency,
    Customer.io's error and request id. Read-only unless --write (Pipelines calls are POSTs,
    always strict mode).
    """
    from cio_doctor import api
    from cio_doctor.cio_http import app_client, track_client

    factories = {"track": track_client, "app": app_client, "pipelines": api.pipelines_client}

    def build() -> Report:
        settings = load_settings(env, region, timeout)
        recorder = trace_file(trace)
        if target == "probe":
            return api.probe(settings, recorder)
        if target not in factories:
            raise CannotCheck(f"target must be probe, track, app or pipelines, not {target!r}")
        if not path:
            raise CannotCheck(f"give a path: cio-doctor api {target} GET /path")
        verb = method.upper()
        if verb != "GET" and not write:
            raise CannotCheck(f"{verb} changes data in Customer.io: add --write if you mean it")
        body = api.parse_body(data)
        params = api.parse_params(param or [])
        return api.run_calls(
            {target: factories[target](settings, recorder)}, [(target, verb, path, params, body)]
        )

    finish(build, as_json, "calling Customer.io")


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
    """Why a person does or does not get messages.

    Identifiers, email, unsubscribed, email suppressions (bounces, spam complaints), recent
    messages and activities, segments.
    """
    from cio_doctor import user
    from cio_doctor.cio_http import app_client

    if id_type not in (None, "id", "email", "cio_id"):
        fail(f"--id-type must be id, email or cio_id, not {id_type!r}", as_json)

    def build() -> Report:
        client = app_client(load_settings(env, region, timeout), trace_file(trace))
        return user.diagnose(client, who, id_type)

    finish(build, as_json, "looking up the person")


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
        client = app_client(load_settings(env, region, timeout), trace_file(trace))
        return campaign.diagnose(client, campaign_id)

    finish(build, as_json, "reading the campaign")
