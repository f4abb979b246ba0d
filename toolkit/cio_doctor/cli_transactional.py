"""`cio-doctor transactional`: look up one transactional send's claim in Firestore."""

from __future__ import annotations

from typing import Annotated

import typer

from cio_doctor.cli_common import EnvOpt, JsonOpt, app, fail, finish
from cio_doctor.findings import Report


@app.command("transactional")
def transactional_cmd(
    lookup: Annotated[
        str,
        typer.Argument(help="The idempotency key, the event id, or Customer.io's delivery_id."),
    ],
    env: EnvOpt = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Project (default: the env file's).")
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", help="Firestore database (default: <prefix>-<env>-claims)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What happened to one transactional message: sent (delivery_id), failed and retrying,
    outcome unknown, or never claimed. Reads the claims database (FIRESTORE_EMULATOR_HOST for
    the emulator)."""
    from cio_shared import contract

    from cio_doctor import transactional

    if env:
        from cio_doctor.config import load_env_file

        try:
            env_file = load_env_file(env)
        except Exception as exc:  # ConfigError: names the file
            fail(str(exc), as_json)
        project = project or env_file.project_id
        database = database or env_file.resource(contract.FIRESTORE_PURPOSE)
    if not project or not database:
        fail("pass --env <env>, or --project and --database", as_json)

    def build() -> Report:
        return transactional.lookup_report(lookup, str(project), str(database))

    finish(build, as_json, "reading the transactional claim")
