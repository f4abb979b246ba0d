"""Small helpers shared by the constructs: lifecycle protection and duration strings."""

from __future__ import annotations

from stacks import cdk
from stacks.config import Environment

DAY_SECONDS = 86_400


def lifecycle(env: Environment) -> cdk.TerraformResourceLifecycle | None:
    """`prevent_destroy` on data-holding resources of protected environments."""
    return cdk.TerraformResourceLifecycle(prevent_destroy=True) if env.protected else None


def seconds(value: int | float) -> str:
    """Terraform's duration format for Pub/Sub: `600s`."""
    return f"{int(value)}s"


def days(value: int) -> str:
    return seconds(value * DAY_SECONDS)
