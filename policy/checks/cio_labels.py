"""Every labellable resource carries the labels cost reports and alerts group by."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from cio_policy import StackDocument, StackResourceCheck

# Issue 2 asks for environment, component and managed-by; ARCHITECTURE.md adds owner.
REQUIRED = ("environment", "component", "managed-by", "owner")
# Google provider resource types that take labels, by the attribute that holds them: these
# must have them. Any other type is checked when it sets a labels or user_labels map.
LABELLABLE: dict[str, str] = {
    "google_artifact_registry_repository": "labels",
    "google_bigquery_dataset": "labels",
    "google_bigquery_table": "labels",
    "google_cloud_run_v2_job": "labels",
    "google_cloud_run_v2_service": "labels",
    "google_cloudfunctions2_function": "labels",
    "google_cloudfunctions_function": "labels",
    "google_compute_disk": "labels",
    "google_compute_instance": "labels",
    "google_eventarc_trigger": "labels",
    "google_kms_crypto_key": "labels",
    "google_monitoring_alert_policy": "user_labels",
    "google_monitoring_notification_channel": "user_labels",
    "google_pubsub_subscription": "labels",
    "google_pubsub_topic": "labels",
    "google_redis_instance": "labels",
    "google_secret_manager_secret": "labels",
    "google_storage_bucket": "labels",
    "google_workflows_workflow": "labels",
}


class RequiredLabels(StackResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every labellable resource has the labels environment, component, "
            "managed-by and owner",
            id="CKV_CIO_6",
            supported_resources=("google_*",),
            categories=(CheckCategories.CONVENTION,),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        attribute = LABELLABLE.get(rtype) or next(
            (a for a in ("labels", "user_labels") if isinstance(resource.get(a), dict)), None
        )
        if attribute is None:
            return CheckResult.UNKNOWN  # takes no labels (or not a type we know takes them)
        self.evaluated_keys = [attribute]
        labels = resource.get(attribute)
        labels = labels if isinstance(labels, dict) else {}
        missing = [key for key in REQUIRED if not labels.get(key)]
        if missing:
            return self.fail(f"{attribute} lack {', '.join(missing)}")
        return CheckResult.PASSED


check = RequiredLabels()
