"""What every cio-doctor command shares: the typer apps, common options, running a report.

Heavy imports (Google clients, rich, requests) happen inside the commands so `--help` and
simple checks start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cio_doctor.findings import EXIT_CANNOT_CHECK, CannotCheck, Report

if TYPE_CHECKING:
    from cio_doctor.cio_http import Trace
    from cio_doctor.config import Settings

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


def finish(build: Callable[[], Report], as_json: bool, label: str) -> None:
    """Run a report builder with a progress display; print it; exit with its code."""
    from cio_doctor import output

    try:
        with output.progress(label, quiet=as_json):
            report = build()
    except CannotCheck as exc:
        fail(str(exc), as_json)
    raise typer.Exit(output.emit(report, as_json))


def fail(message: str, as_json: bool) -> None:
    from cio_doctor import output

    if as_json:
        sys.stdout.write(
            json.dumps({"status": "not_checked", "exit_code": EXIT_CANNOT_CHECK, "error": message})
            + "\n"
        )
    output.error(message)
    raise typer.Exit(EXIT_CANNOT_CHECK)


def load_settings(env: str | None, region: str | None = None, timeout: float = 10.0) -> Settings:
    from cio_doctor import config

    return config.settings(env, region, timeout)


WaitOpt = Annotated[
    float,
    typer.Option("--wait", min=0.1, max=60, help="Seconds to wait on an empty subscription."),
]


def trace_file(path: Path | None) -> Trace | None:
    from cio_doctor import cio_http

    return cio_http.Trace(path) if path else None


def confirmer(yes: bool, as_json: bool) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        if yes:
            return True
        if as_json or not sys.stdin.isatty():
            raise CannotCheck(f"{question} needs confirmation: run it again with --yes")
        from cio_doctor.output import suspend_progress

        suspend_progress()
        return typer.confirm(question, default=False, err=True)

    return ask
