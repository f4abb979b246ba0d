"""Secret Manager secrets: explicit replication, and CMEK wherever the environment uses KMS."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from cio_policy import StackDocument, StackResourceCheck, block


def replicas(resource: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The user-managed replicas, or None for automatic replication."""
    user_managed = block(block(resource, "replication"), "user_managed")
    if not user_managed:
        return None
    found = user_managed.get("replicas") or []
    return [r for r in (found if isinstance(found, list) else [found]) if isinstance(r, dict)]


class SecretReplication(StackResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure Secret Manager secrets set replication (automatic, or user-managed "
            "with located replicas)",
            id="CKV_CIO_4",
            supported_resources=("google_secret_manager_secret",),
            categories=(CheckCategories.BACKUP_AND_RECOVERY,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        self.evaluated_keys = ["replication"]
        replication = resource.get("replication")
        if not isinstance(replication, dict | list) or not replication:
            return self.fail("no replication block")
        located = replicas(resource)
        if located is None:
            if "auto" not in block(resource, "replication"):
                return self.fail("replication sets neither auto nor user_managed")
            return CheckResult.PASSED
        if not located or not all(r.get("location") for r in located):
            return self.fail("user_managed replication needs replicas, each with a location")
        return CheckResult.PASSED


class SecretCmek(StackResourceCheck):
    """Where any resource of the stack is encrypted with a KMS key, secrets must be too."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Secret Manager secrets use a customer-managed key (CMEK) where the "
            "environment uses Cloud KMS",
            id="CKV_CIO_5",
            supported_resources=("google_secret_manager_secret",),
            categories=(CheckCategories.ENCRYPTION,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        if not stack.uses_kms():
            return CheckResult.UNKNOWN
        self.evaluated_keys = ["replication"]
        located = replicas(resource)
        if located is None:
            auto = block(block(resource, "replication"), "auto")
            keyed = [block(auto, "customer_managed_encryption")]
        else:
            keyed = [block(r, "customer_managed_encryption") for r in located]
        if not keyed or not all(k.get("kms_key_name") for k in keyed):
            return self.fail(
                "the stack uses Cloud KMS keys but this secret's replication has no "
                "customer_managed_encryption.kms_key_name (on every replica)"
            )
        return CheckResult.PASSED


replication = SecretReplication()
cmek = SecretCmek()
