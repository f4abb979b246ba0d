"""Which roles the CI identities hold, and why: the least the environment stacks need.

`RESOURCE_ROLES` maps every Terraform resource and data-source type the stacks synthesize
to the role the deployer needs to manage it and the role the planner needs to read it
(a plan refreshes every resource, including its IAM policy). `tests/cicd` checks the
synthesized stacks against this table in both directions: every type the stacks create is
covered, and every granted role is needed by some type. No primitive role is granted.
"""

from __future__ import annotations

from dataclasses import dataclass

SECRETS_ROLE_ID = "cioSecretsDeployer"
SECRETS_ROLE = f"projects/{{project}}/roles/{SECRETS_ROLE_ID}"
# Manage Secret Manager secrets and their IAM, but never read or add a secret value: the
# values are added out of band (`gcloud secrets versions add`), so none is in state.
SECRETS_ROLE_PERMISSIONS = (
    "secretmanager.locations.get",
    "secretmanager.locations.list",
    "secretmanager.secrets.create",
    "secretmanager.secrets.delete",
    "secretmanager.secrets.get",
    "secretmanager.secrets.getIamPolicy",
    "secretmanager.secrets.list",
    "secretmanager.secrets.setIamPolicy",
    "secretmanager.secrets.update",
    "secretmanager.versions.get",
    "secretmanager.versions.list",
    "resourcemanager.projects.get",
)
# Project-level roles the stacks may grant (the handlers' build account and runtime
# accounts). The deployer's projectIamAdmin binding is conditioned on this list, so the
# deployer cannot grant itself or anyone else owner/editor or any other role.
GRANTABLE_PROJECT_ROLES = (
    # the functions' build account: logs, Artifact Registry, build sources (stacks/handlers.py)
    "roles/run.builder",
    # the transactional handler's account, on the claims database only: its IAM condition
    # `resource.name == "projects/<p>/databases/<prefix>-<env>-claims"` (stacks/claims.py)
    "roles/datastore.user",
)
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})


@dataclass(frozen=True)
class Access:
    deployer: str
    planner: str


RESOURCE_ROLES: dict[str, Access] = {
    "google_pubsub_topic": Access("roles/pubsub.admin", "roles/pubsub.viewer"),
    "google_pubsub_subscription": Access("roles/pubsub.admin", "roles/pubsub.viewer"),
    "google_pubsub_topic_iam_member": Access("roles/pubsub.admin", "roles/pubsub.viewer"),
    "google_pubsub_subscription_iam_member": Access("roles/pubsub.admin", "roles/pubsub.viewer"),
    "google_secret_manager_secret": Access(SECRETS_ROLE, "roles/secretmanager.viewer"),
    "google_secret_manager_secret_iam_member": Access(SECRETS_ROLE, "roles/iam.securityReviewer"),
    "google_cloudfunctions2_function": Access(
        "roles/cloudfunctions.developer", "roles/cloudfunctions.viewer"
    ),
    "google_cloud_run_v2_service_iam_member": Access("roles/run.admin", "roles/run.viewer"),
    # The workload accounts are created by the bootstrap; the stacks only look them up.
    "data.google_service_account": Access(
        "roles/iam.serviceAccountViewer", "roles/iam.serviceAccountViewer"
    ),
    "google_storage_bucket": Access("roles/storage.admin", "roles/storage.bucketViewer"),
    "google_storage_bucket_iam_member": Access("roles/storage.admin", "roles/iam.securityReviewer"),
    "google_storage_bucket_object": Access("roles/storage.admin", "roles/storage.objectViewer"),
    "google_bigquery_dataset": Access("roles/bigquery.dataOwner", "roles/bigquery.metadataViewer"),
    "google_bigquery_table": Access("roles/bigquery.dataOwner", "roles/bigquery.metadataViewer"),
    "google_bigquery_dataset_access": Access(
        "roles/bigquery.dataOwner", "roles/bigquery.metadataViewer"
    ),
    "google_bigquery_dataset_iam_member": Access(
        "roles/bigquery.dataOwner", "roles/bigquery.metadataViewer"
    ),
    "google_logging_metric": Access("roles/logging.configWriter", "roles/logging.viewer"),
    # the delivery ledger's log sink (stacks/ledger.py)
    "google_logging_project_sink": Access("roles/logging.configWriter", "roles/logging.viewer"),
    "google_monitoring_alert_policy": Access(
        "roles/monitoring.alertPolicyEditor", "roles/monitoring.viewer"
    ),
    "google_monitoring_dashboard": Access(
        "roles/monitoring.dashboardEditor", "roles/monitoring.viewer"
    ),
    # The transactional claims database and its TTL policy (stacks/claims.py).
    "google_firestore_database": Access("roles/datastore.owner", "roles/datastore.viewer"),
    "google_firestore_field": Access("roles/datastore.owner", "roles/datastore.viewer"),
    "google_project_iam_member": Access(
        "roles/resourcemanager.projectIamAdmin", "roles/iam.securityReviewer"
    ),
}

# Types that call no Google API (hashicorp/time's sleeps).
LOCAL_TYPES = frozenset({"time_sleep"})
# Roles that no resource type explains but a deploy needs anyway. The deployer's actAs
# (serviceAccountUser) is granted on each workload account only (bootstrap/app.py).
DEPLOYER_EXTRA: dict[str, str] = {}
PLANNER_EXTRA: dict[str, str] = {}
# The smoke account's only project-level role (bootstrap/app.py); everything else it reads
# is granted per resource by the stacks (stacks/smoke.py). No secret, table or subscription
# role project-wide: bigquery.jobUser runs jobs but reads no data by itself.
SMOKE_PROJECT_ROLES: dict[str, str] = {
    "roles/bigquery.jobUser": "run the smoke check's query for its event's row (the table "
    "data is readable through the stacks' dataViewer on the analytics dataset only)",
}

WHY = {
    "roles/pubsub.admin": "topics, subscriptions (push, dead-letter, BigQuery) and their IAM "
    "members: setIamPolicy on topics and subscriptions exists only in pubsub.admin",
    SECRETS_ROLE: "custom role: create secrets and their IAM members; no access to values",
    "roles/cloudfunctions.developer": "create and update the 2nd gen functions",
    "roles/run.admin": "the webhook's public invoker binding on its Cloud Run service "
    "(run.services.setIamPolicy is only in run.admin)",
    "roles/storage.admin": "the function source bucket, its objects and bucket IAM; the "
    "state objects and their lock",
    "roles/bigquery.dataOwner": "the analytics and ledger datasets, tables, views and dataset "
    "IAM (the ledger sink's writer identity)",
    "roles/logging.configWriter": "log-based metrics on the handlers' decisions and the "
    "delivery ledger's log sink",
    "roles/monitoring.alertPolicyEditor": "alert policies",
    "roles/monitoring.dashboardEditor": "the dashboard",
    "roles/resourcemanager.projectIamAdmin": "project-level grants for the handlers' accounts, "
    "conditioned to GRANTABLE_PROJECT_ROLES only",
    "roles/datastore.owner": "create, update and (outside protected environments) delete the "
    "claims database and its TTL field (datastore.databases.* and datastore.indexes.*: no "
    "narrower predefined role holds databases.create)",
    "roles/datastore.viewer": "refresh the claims database and its TTL field",
    "roles/pubsub.viewer": "refresh topics and subscriptions",
    "roles/secretmanager.viewer": "refresh secret metadata (not values)",
    "roles/iam.securityReviewer": "refresh IAM policies (getIamPolicy) of every resource",
    "roles/cloudfunctions.viewer": "refresh functions",
    "roles/run.viewer": "refresh the functions' Cloud Run services",
    "roles/iam.serviceAccountViewer": "look up the workload accounts the bootstrap created",
    "roles/storage.bucketViewer": "refresh buckets",
    "roles/storage.objectViewer": "refresh the function source objects",
    "roles/bigquery.metadataViewer": "refresh dataset and table metadata (no table data)",
    "roles/logging.viewer": "refresh log-based metrics and the ledger sink",
    "roles/monitoring.viewer": "refresh alert policies and dashboards",
}


def _roles(pick: str) -> set[str]:
    return {getattr(access, pick) for access in RESOURCE_ROLES.values()}


def deployer_roles() -> dict[str, str]:
    """Every project-level role of the deployer, with the reason it is needed."""
    roles = {role: WHY[role] for role in _roles("deployer")}
    roles.update(DEPLOYER_EXTRA)
    return dict(sorted(roles.items()))


def planner_roles() -> dict[str, str]:
    roles = {role: WHY[role] for role in _roles("planner")}
    roles.update(PLANNER_EXTRA)
    return dict(sorted(roles.items()))


def resource_key(kind: str, terraform_type: str) -> str:
    """`google_pubsub_topic` for a resource, `data.google_project` for a data source."""
    return terraform_type if kind == "resource" else f"data.{terraform_type}"


def grant_condition() -> str:
    """CEL: a projectIamAdmin that can only add or remove the grantable roles."""
    allowed = ", ".join(f"'{role}'" for role in GRANTABLE_PROJECT_ROLES)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{allowed}])"
