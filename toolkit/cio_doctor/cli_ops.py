"""`cio-doctor secrets|incident|network`: the operations commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cio_doctor.cli_common import (
    EnvOpt,
    JsonOpt,
    RegionOpt,
    TimeoutOpt,
    TraceOpt,
    WaitOpt,
    app,
    fail,
    finish,
    load_settings,
    trace_file,
)
from cio_doctor.findings import Report


@app.command("secrets")
def secrets_cmd(
    env: Annotated[str, typer.Option("--env", help="Environment file: environments/<env>.yaml.")],
    as_json: JsonOpt = False,
) -> None:
    """Which secret version each handler runs, against the latest enabled version.

    Values injected as environment variables refresh only on new instances: roll a new
    revision after adding a version (see toolkit/README.md, "Rotating a secret").
    """
    from cio_doctor import secrets
    from cio_doctor.config import load_env_file

    def build() -> Report:
        return secrets.rotation_report(load_env_file(env), secrets.CloudRunServices())

    finish(build, as_json, "reading secret versions")


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
        fail(f"priority must be one of {', '.join(incident.RUNBOOKS)}, not {priority!r}", as_json)

    def build() -> Report:
        inputs = incident.Inputs(
            load_settings(env, region, timeout),
            user,
            campaign,
            capture,
            ca_file,
            status_url,
            observed_rps,
            wait,
            budget,
            trace_file(trace),
        )
        report = incident.run(level, inputs)
        md, js = incident.write(level, report, out)
        if not as_json:
            from cio_doctor.output import note

            note(f"report written: {md} and {js}")
        return report

    finish(build, as_json, f"running the {level} runbook")


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
        settings = load_settings(env, region, timeout)
        return network_report(settings, samples, ca_file, status_url, observed_rps, budget)

    finish(build, as_json, "checking the network")
