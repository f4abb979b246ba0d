"""Secret Manager secrets for the Customer.io credentials; values are never in Terraform."""

from __future__ import annotations

from typing import Any

from stacks import cdk
from stacks.config import Environment
from stacks.manifests import SECRETS
from stacks.naming import lifecycle


def _cmek(env: Environment, location: str) -> dict[str, str] | None:
    """A replica's key sits in the replica's location; automatic replication takes `global`."""
    key = env.kms_key_for("secretmanager", location)
    return {"kms_key_name": key} if key else None


def replication(env: Environment) -> dict[str, Any]:
    if env.secret_replica_locations:
        replicas = [
            cdk.secret_manager_secret.SecretManagerSecretReplicationUserManagedReplicas(
                location=loc, customer_managed_encryption=_cmek(env, loc)
            )
            for loc in env.secret_replica_locations
        ]
        return {"user_managed": {"replicas": replicas}}
    cmek = _cmek(env, "global")
    return {"auto": {"customer_managed_encryption": cmek} if cmek else {}}


class Secrets(cdk.Construct):
    """One secret per credential; grants are made per handler by `grant_access`."""

    def __init__(self, scope: cdk.Construct, env: Environment) -> None:
        super().__init__(scope, "secrets")
        self.env = env
        self.by_logical: dict[str, cdk.SecretManagerSecret] = {
            logical: cdk.SecretManagerSecret(
                self,
                logical,
                project=env.project_id,
                secret_id=env.resource_name(logical),
                replication=replication(env),
                deletion_protection=env.protected,
                labels={"component": "secrets"},
                lifecycle=lifecycle(env),
            )
            for logical in SECRETS
        }

    def grant_access(
        self, scope: cdk.Construct, logical: str, member: str
    ) -> cdk.SecretManagerSecretIamMember:
        """secretAccessor on exactly one secret for one principal."""
        secret = self.by_logical[logical]
        return cdk.SecretManagerSecretIamMember(
            scope,
            f"access-{logical}",
            project=self.env.project_id,
            secret_id=secret.secret_id,
            role="roles/secretmanager.secretAccessor",
            member=member,
        )
