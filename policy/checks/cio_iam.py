"""IAM grants: no public principals, no primitive roles, on any resource."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from cio_policy import (
    IAM_GRANTS,
    PRIMITIVE_ROLES,
    PUBLIC_MEMBERS,
    StackDocument,
    StackResourceCheck,
)


class NoPublicMembers(StackResourceCheck):
    """The public webhook's invoker grant is the one intended exception: it is suppressed,
    with its reason, in policy/suppressions.yaml, so a second public grant needs a review."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure no IAM grant names allUsers or allAuthenticatedUsers (only the "
            "reviewed public webhook invoker, by suppression)",
            id="CKV_CIO_3",
            supported_resources=IAM_GRANTS,
            categories=(CheckCategories.IAM,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        self.evaluated_keys = ["member", "members", "policy_data"]
        for role, principals in stack.grants(resource):
            public = sorted(PUBLIC_MEMBERS & principals)
            if public:
                return self.fail(f"grants {role} to {', '.join(public)}")
        return CheckResult.PASSED


class NoPrimitiveRoles(StackResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure no IAM grant uses a primitive role (roles/owner, roles/editor, "
            "roles/viewer) on any resource",
            id="CKV_CIO_7",
            supported_resources=IAM_GRANTS,
            categories=(CheckCategories.IAM,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        self.evaluated_keys = ["role", "policy_data"]
        for role, _ in stack.grants(resource):
            if role in PRIMITIVE_ROLES:
                return self.fail(f"primitive role {role}: grant a predefined role instead")
        return CheckResult.PASSED


IMPERSONATION_ROLES = frozenset(
    {
        "roles/iam.serviceAccountTokenCreator",
        "roles/iam.serviceAccountUser",
        "roles/iam.workloadIdentityUser",
    }
)
PUBSUB_AGENT = re.compile(
    r"^serviceAccount:service-[0-9]+@gcp-sa-pubsub\.iam\.gserviceaccount\.com$"
)


class NoImpersonationGrants(StackResourceCheck):
    """Whoever may act as, or mint tokens for, an account holds its rights: the stacks grant
    that to nobody. The bootstrap creates the workload accounts and grants actAs to the
    deployer and token creation on the push account to Pub/Sub's agent (push OIDC tokens),
    which is the one exception this check allows."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure the stacks grant no serviceAccountTokenCreator, serviceAccountUser or "
            "workloadIdentityUser (only Pub/Sub's agent may mint push tokens)",
            id="CKV_CIO_12",
            supported_resources=IAM_GRANTS,
            categories=(CheckCategories.IAM,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        self.evaluated_keys = ["role", "member", "members", "policy_data"]
        for role, principals in stack.grants(resource):
            if role not in IMPERSONATION_ROLES:
                continue
            allowed = role == "roles/iam.serviceAccountTokenCreator" and rtype.startswith(
                "google_service_account_iam"
            )
            others = sorted(p for p in principals if not (allowed and PUBSUB_AGENT.match(p)))
            if others:
                return self.fail(f"grants {role} to {', '.join(others)}")
        return CheckResult.PASSED


public_members = NoPublicMembers()
impersonation = NoImpersonationGrants()
primitive_roles = NoPrimitiveRoles()
