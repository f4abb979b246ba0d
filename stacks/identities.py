"""The service accounts the handlers run, build and push as: named here, created by the bootstrap.

The bootstrap (run with owner credentials) creates these accounts and grants the deployer
`iam.serviceAccountUser` on exactly them, so the deployer needs no project-wide
serviceAccountAdmin or serviceAccountUser: it could otherwise act as any account in the
project (the default compute account included) or rewrite any account's IAM policy. The
stacks look the accounts up (a data source), so a handler folder added without re-running
the bootstrap fails at plan, naming the missing account.
"""

from __future__ import annotations

from collections.abc import Sequence

from stacks.config import Environment
from stacks.manifests import HandlerManifest

SERVICE_ACCOUNT_ID_MAX = 30
BUILD = "build"
PUSH = "push"
# The identity of the post-deploy smoke check (scripts/smoke_check.py): created and bound to
# GitHub by the bootstrap like the deployer, granted its few reads by the stacks (stacks/smoke.py).
SMOKE = "smoke"


class AccountNameError(ValueError):
    pass


def account_id(env_prefix: str, env_name: str, purpose: str) -> str:
    """`<prefix>-<env>-<purpose>`, at most 30 characters (IAM's limit)."""
    value = f"{env_prefix}-{env_name}-{purpose}"
    if len(value) > SERVICE_ACCOUNT_ID_MAX:
        raise AccountNameError(
            f"service account id {value!r} is longer than {SERVICE_ACCOUNT_ID_MAX} characters: "
            "shorten name_prefix, the environment name or the handler folder name"
        )
    return value


def workload_accounts(env: Environment, manifests: Sequence[HandlerManifest]) -> dict[str, str]:
    """purpose -> account id: the build and push identities, and one per handler."""
    purposes = [BUILD, PUSH, *sorted(m.name for m in manifests)]
    return {p: account_id(env.name_prefix, env.name, p) for p in purposes}


def smoke_account_id(env: Environment) -> str:
    """`<prefix>-<env>-smoke`: the account the smoke check runs as."""
    return account_id(env.name_prefix, env.name, SMOKE)


def describe(purpose: str) -> str:
    if purpose == BUILD:
        return "Cloud Build for the Customer.io handlers"
    if purpose == PUSH:
        return "Pub/Sub push to the Customer.io handlers (OIDC)"
    return f"Customer.io handler {purpose}"
