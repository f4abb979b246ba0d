"""Cloud Functions (2nd gen runs on Cloud Run) and Cloud Run services: ingress and identity.

Checkov has checks for 1st gen functions and Cloud Run v1 only.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from cio_policy import StackDocument, StackResourceCheck, block

DEFAULT_COMPUTE_SUFFIX = "-compute@developer.gserviceaccount.com"


def ingress(rtype: str, resource: dict[str, Any]) -> tuple[str, str, str, str]:
    """(setting path, value, the internal-only value, the allow-all value) per resource type."""
    if rtype == "google_cloudfunctions2_function":
        value = block(resource, "service_config").get("ingress_settings") or "ALLOW_ALL"
        return "service_config/[0]/ingress_settings", value, "ALLOW_INTERNAL_ONLY", "ALLOW_ALL"
    if rtype == "google_cloudfunctions_function":
        value = resource.get("ingress_settings") or "ALLOW_ALL"
        return "ingress_settings", value, "ALLOW_INTERNAL_ONLY", "ALLOW_ALL"
    value = resource.get("ingress") or "INGRESS_TRAFFIC_ALL"
    return "ingress", value, "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_ALL"


class InternalIngressUnlessPublic(StackResourceCheck):
    """The function with a public invoker grant (the webhook) takes internet traffic; every
    other one is reachable only from inside the project (Pub/Sub push included)."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure only the publicly invokable function or service allows all ingress; "
            "every other one is internal-only",
            id="CKV_CIO_2",
            supported_resources=(
                "google_cloudfunctions2_function",
                "google_cloudfunctions_function",
                "google_cloud_run_v2_service",
            ),
            categories=(CheckCategories.NETWORKING,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        key, value, internal, _ = ingress(rtype, resource)
        self.evaluated_keys = [key]
        if value == internal or stack.publicly_invokable(rtype, name, resource):
            return CheckResult.PASSED
        return self.fail(
            f"ingress {value} on a function nobody outside may invoke: set {internal} "
            "(only a function with a public invoker grant may take internet traffic)"
        )


class DedicatedServiceAccount(StackResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure functions and Cloud Run services run (and build) as a dedicated "
            "service account, not the default compute one",
            id="CKV_CIO_11",
            supported_resources=("google_cloudfunctions2_function", "google_cloud_run_v2_service"),
            categories=(CheckCategories.IAM,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        if rtype == "google_cloud_run_v2_service":
            accounts = {
                "template/[0]/service_account": block(resource, "template").get("service_account")
            }
        else:
            accounts = {
                "service_config/[0]/service_account_email": block(resource, "service_config").get(
                    "service_account_email"
                ),
                "build_config/[0]/service_account": block(resource, "build_config").get(
                    "service_account"
                ),
            }
        self.evaluated_keys = list(accounts)
        for key, account in accounts.items():
            if not account:
                return self.fail(f"{key} is not set: the default compute account would run it")
            if str(account).endswith(DEFAULT_COMPUTE_SUFFIX):
                return self.fail(f"{key} is the default compute service account")
        return CheckResult.PASSED


ingress_check = InternalIngressUnlessPublic()
service_account = DedicatedServiceAccount()
