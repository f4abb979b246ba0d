"""The Google APIs an environment's project needs, and which resource types need which.

`API_FOR_TYPE` ties each Terraform type prefix the stacks use to the API that serves it;
`tests/cicd` checks every synthesized type against it, so a new kind of resource in the
stacks cannot land without its API being enabled by the bootstrap.
"""

from __future__ import annotations

KMS_API = "cloudkms.googleapis.com"

# Longest matching prefix wins.
API_FOR_TYPE = {
    "google_bigquery_": ("bigquery.googleapis.com",),
    "google_cloud_run_v2_": ("run.googleapis.com",),
    # 2nd gen functions run on Cloud Run, built by Cloud Build into Artifact Registry.
    "google_cloudfunctions2_": (
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
    ),
    "google_firestore_": ("firestore.googleapis.com",),
    "google_logging_": ("logging.googleapis.com",),
    "google_monitoring_": ("monitoring.googleapis.com",),
    "google_project_iam_": ("cloudresourcemanager.googleapis.com",),
    "google_pubsub_": ("pubsub.googleapis.com",),
    "google_secret_manager_": ("secretmanager.googleapis.com",),
    "google_service_account": ("iam.googleapis.com",),
    "google_storage_": ("storage.googleapis.com",),
    "google_kms_": (KMS_API,),
}

# What the CI identities and Terraform itself use, whatever the stacks contain.
PLATFORM_APIS = {
    "iam.googleapis.com": "service accounts, the custom role, the Workload Identity pool",
    "iamcredentials.googleapis.com": "CI impersonates the planner and deployer accounts",
    "sts.googleapis.com": "Workload Identity Federation token exchange",
    "serviceusage.googleapis.com": "enabling these APIs",
    "storage.googleapis.com": "the Terraform state bucket",
    "cloudresourcemanager.googleapis.com": "project IAM",
}


def apis_for(terraform_type: str) -> tuple[str, ...]:
    """The APIs a resource or data-source type needs; () when no prefix matches."""
    name = terraform_type.removeprefix("data.")
    matches = [prefix for prefix in API_FOR_TYPE if name.startswith(prefix)]
    return API_FOR_TYPE[max(matches, key=len)] if matches else ()


def required_apis(kms: bool) -> set[str]:
    """Everything the bootstrap enables: the platform's and every stack type's APIs."""
    apis = set(PLATFORM_APIS)
    apis.update(api for needed in API_FOR_TYPE.values() for api in needed if api != KMS_API)
    if kms:
        apis.add(KMS_API)
    return apis
