"""`cio-platform`: synthesize environments, export the config schema, plan."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from stacks.config import ConfigError, json_schema
from stacks.manifests import ManifestError

app = typer.Typer(
    add_completion=False, help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False
)

EnvDir = Annotated[
    Path | None, typer.Option(help="Folder of environment files (default environments/)")
]
EXIT_POLICY = 1
EXIT_INPUT = 2


@app.command()
def synth(
    environments: Annotated[
        list[str] | None, typer.Argument(help="Environment names (default: all files)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every file in environments/")] = False,
    summary: Annotated[bool, typer.Option(help="Print resources by type per environment")] = False,
    outdir: Annotated[Path | None, typer.Option(help="Output folder (default cdktf.out)")] = None,
    env_dir: EnvDir = None,
) -> None:
    """Validate the environment files, then synthesize one stack per environment."""
    from stacks.config import load_environments

    names = None if all_ else environments
    try:
        envs = load_environments(names, env_dir)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INPUT) from None
    started = time.monotonic()
    from stacks.app import DEFAULT_OUTDIR, PolicyViolation
    from stacks.app import synth as run_synth

    try:
        outputs = run_synth(envs, outdir or DEFAULT_OUTDIR)
    except (ManifestError, ValueError, OSError) as exc:
        typer.echo(f"synth failed: {exc}", err=True)
        raise typer.Exit(EXIT_INPUT) from None
    except PolicyViolation as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_POLICY) from None
    elapsed = time.monotonic() - started
    typer.echo(f"synthesized {len(outputs)} environment(s) in {elapsed:.1f}s")
    for name, path in outputs.items():
        if summary:
            from stacks.summary import format_summary, load_stack

            typer.echo(format_summary(name, load_stack(path)))
        else:
            typer.echo(f"  {name}: {path}")


@app.command()
def schema(
    manifest: Annotated[
        bool, typer.Option("--manifest", help="handler.yaml's schema instead")
    ] = False,
) -> None:
    """Print the JSON Schema of environment files (environments/schema.json), or with
    --manifest of handler manifests (functions/handler.schema.json)."""
    from stacks.manifests import manifest_schema

    json.dump(
        manifest_schema() if manifest else json_schema(), sys.stdout, indent=2, sort_keys=True
    )
    sys.stdout.write("\n")


@app.command()
def validate(
    environments: Annotated[list[str] | None, typer.Argument(help="Names (default: all)")] = None,
    env_dir: EnvDir = None,
) -> None:
    """Validate environment files and their fit with the handler folders (no provider import)."""
    from stacks import readiness
    from stacks.config import load_environments
    from stacks.manifests import DEFAULT_FUNCTIONS, discover

    try:
        envs = load_environments(environments, env_dir)
        readiness.check(envs, discover(DEFAULT_FUNCTIONS))
    except (ConfigError, ManifestError, readiness.ReadinessError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INPUT) from None
    for env in envs:
        typer.echo(f"{env.name}: ok ({env.project_id}, Customer.io {env.customerio.region})")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def plan(ctx: typer.Context) -> None:
    """terraform plan for one environment; explains what is missing instead of failing."""
    from stacks.plan import main as plan_main

    raise typer.Exit(plan_main(list(ctx.args)))


@app.command()
def preflight(
    environment: Annotated[str, typer.Argument(help="Environment name (environments/<env>.yaml)")],
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable report")] = False,
    endpoints: Annotated[
        str | None,
        typer.Option(help="service=endpoint,... for local fakes ($CIO_PREFLIGHT_ENDPOINTS)"),
    ] = None,
    env_dir: EnvDir = None,
) -> None:
    """Read-only checks of the live project before a plan or apply (exit 0 / 1 findings / 2)."""
    from stacks.preflight.command import preflight as run_preflight

    raise typer.Exit(
        run_preflight(environment, env_dir=env_dir, endpoints=endpoints, as_json=json_)
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
