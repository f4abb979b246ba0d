"""`cio-doctor dlq list|inspect|replay`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cio_doctor.cli_common import (
    EnvOpt,
    JsonOpt,
    WaitOpt,
    confirmer,
    dlq_app,
    finish,
)
from cio_doctor.findings import CannotCheck, Report

if TYPE_CHECKING:
    from cio_doctor.dlq import Target

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
LimitOpt = Annotated[
    int, typer.Option("--limit", min=1, max=10000, help="Most messages read per subscription.")
]


def _dlq_target(
    env: str | None, prefix: str | None, chosen: list[str] | None, wait: float
) -> tuple[Target, list[str]]:
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

    finish(build, as_json, "reading dead letters")


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

    finish(build, as_json, "searching dead letters")


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
        plan, planned = dlq.plan_replay(target, subs, reasons, limit)
        if dry_run or not planned:
            return plan
        if not as_json:
            output.render(plan)
        if not confirmer(yes, as_json)(f"Re-publish {len(planned)} dead letter(s)?"):
            raise CannotCheck("replay cancelled; nothing was changed")
        return dlq.replay_report(target, subs, planned, limit)

    finish(build, as_json, "replaying dead letters")
