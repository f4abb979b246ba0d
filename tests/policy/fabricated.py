"""Fabricated stacks: for each project check, resources that must fail it and pass it.

Shaped like CDKTF output (`//` metadata on every resource) so the gate reads them exactly as
it reads the real stacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KMS_KEY = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
SERVICE_ACCOUNT = "handler@acme-fab.iam.gserviceaccount.com"
DEFAULT_COMPUTE = "123456789012-compute@developer.gserviceaccount.com"

# (check, resource address, expected result); "absent": the check does not apply.
EXPECTATIONS: list[tuple[str, str, str]] = [
    ("CKV_CIO_1", "google_pubsub_subscription.good_push", "PASSED"),
    ("CKV_CIO_1", "google_pubsub_subscription.bad_push_no_dead_letter", "FAILED"),
    ("CKV_CIO_1", "google_pubsub_subscription.bad_export_attempts", "FAILED"),
    ("CKV_CIO_1", "google_pubsub_subscription.pull_dead_letters", "absent"),
    ("CKV_CIO_2", "google_cloudfunctions2_function.good_internal_function", "PASSED"),
    ("CKV_CIO_2", "google_cloudfunctions2_function.good_public_function", "PASSED"),
    ("CKV_CIO_2", "google_cloudfunctions2_function.bad_open_function", "FAILED"),
    ("CKV_CIO_2", "google_cloud_run_v2_service.bad_default_ingress_service", "FAILED"),
    ("CKV_CIO_3", "google_pubsub_topic_iam_member.good_publisher", "PASSED"),
    ("CKV_CIO_3", "google_cloud_run_v2_service_iam_member.bad_public_invoker", "FAILED"),
    ("CKV_CIO_3", "google_storage_bucket_iam_binding.bad_authenticated_readers", "FAILED"),
    ("CKV_CIO_3", "google_storage_bucket_iam_policy.bad_public_policy", "FAILED"),
    ("CKV_CIO_3", "google_pubsub_topic_iam_policy.bad_editor_policy", "PASSED"),
    ("CKV_CIO_4", "google_secret_manager_secret.good_secret_cmek", "PASSED"),
    ("CKV_CIO_4", "google_secret_manager_secret.bad_secret_auto_no_cmek", "PASSED"),
    ("CKV_CIO_4", "google_secret_manager_secret.bad_secret_no_replication", "FAILED"),
    ("CKV_CIO_5", "google_secret_manager_secret.good_secret_cmek", "PASSED"),
    ("CKV_CIO_5", "google_secret_manager_secret.bad_secret_auto_no_cmek", "FAILED"),
    ("CKV_CIO_6", "google_pubsub_topic.good_topic", "PASSED"),
    ("CKV_CIO_6", "google_monitoring_alert_policy.good_alert", "PASSED"),
    ("CKV_CIO_6", "google_storage_bucket.bad_bucket_labels", "FAILED"),
    ("CKV_CIO_6", "google_compute_network.bad_unlisted_type_labels", "FAILED"),
    ("CKV_CIO_6", "google_project_iam_member.bad_project_editor", "absent"),
    ("CKV_CIO_7", "google_pubsub_topic_iam_member.good_publisher", "PASSED"),
    ("CKV_CIO_7", "google_project_iam_member.bad_project_editor", "FAILED"),
    ("CKV_CIO_7", "google_pubsub_topic_iam_policy.bad_editor_policy", "FAILED"),
    ("CKV_CIO_7", "google_storage_bucket_iam_policy.bad_public_policy", "PASSED"),
    ("CKV_CIO_8", "google_bigquery_table.good_table_partitioned", "PASSED"),
    ("CKV_CIO_8", "google_bigquery_table.bad_table_unpartitioned", "FAILED"),
    ("CKV_CIO_8", "google_bigquery_table.view_reads_table", "absent"),
    ("CKV_CIO_9", "google_pubsub_topic.good_topic", "PASSED"),
    ("CKV_CIO_9", "google_pubsub_topic.bad_topic_no_retention", "FAILED"),
    ("CKV_CIO_10", "google_pubsub_subscription.good_push", "PASSED"),
    ("CKV_CIO_10", "google_pubsub_subscription.bad_push_no_oidc", "FAILED"),
    ("CKV_CIO_11", "google_cloudfunctions2_function.good_internal_function", "PASSED"),
    ("CKV_CIO_11", "google_cloudfunctions2_function.bad_default_account_function", "FAILED"),
    ("CKV_CIO_12", "google_service_account_iam_member.good_push_token_creator", "PASSED"),
    ("CKV_CIO_12", "google_service_account_iam_member.bad_act_as", "FAILED"),
    ("CKV_CIO_12", "google_project_iam_member.bad_project_token_creator", "FAILED"),
]


def labels(env: str, component: str = "test") -> dict[str, str]:
    return {"environment": env, "component": component, "managed-by": "cdktf", "owner": "platform"}


def function(ingress: str | None, account: str = SERVICE_ACCOUNT) -> dict[str, Any]:
    service: dict[str, Any] = {"service_account_email": account}
    if ingress:
        service["ingress_settings"] = ingress
    return {
        "name": "cio-fab-fn",
        "location": "europe-west1",
        "build_config": {"runtime": "python312", "service_account": account},
        "service_config": service,
    }


def subscription(**settings: Any) -> dict[str, Any]:
    return {"name": "cio-fab-sub", "topic": "${google_pubsub_topic.good_topic.id}", **settings}


DEAD_LETTERS = {
    "dead_letter_topic": "${google_pubsub_topic.bad_topic_no_retention.id}",
    "max_delivery_attempts": 10,
}
PUSH = {
    "push_endpoint": "https://fn.example",
    "oidc_token": {"service_account_email": SERVICE_ACCOUNT},
}


def checks_stack(env: str) -> dict[str, dict[str, Any]]:
    """Resources by type and name that exercise every project check (see EXPECTATIONS)."""
    tags = labels(env)
    return {
        "google_pubsub_topic": {
            "good_topic": {"name": "t", "message_retention_duration": "86400s",
                           "kms_key_name": KMS_KEY, "labels": tags},
            "bad_topic_no_retention": {"name": "t2", "labels": tags},
        },
        "google_pubsub_subscription": {
            "good_push": subscription(push_config=PUSH, dead_letter_policy=DEAD_LETTERS,
                                      labels=tags),
            "bad_push_no_dead_letter": subscription(push_config=PUSH, labels=tags),
            "bad_export_attempts": subscription(
                bigquery_config={"table": "p.d.t"},
                dead_letter_policy={**DEAD_LETTERS, "max_delivery_attempts": 500}, labels=tags,
            ),
            "bad_push_no_oidc": subscription(push_config={"push_endpoint": "https://x.example"},
                                             dead_letter_policy=DEAD_LETTERS, labels=tags),
            "pull_dead_letters": subscription(ack_deadline_seconds=60, labels=tags),
        },
        "google_cloudfunctions2_function": {
            "good_internal_function": {**function("ALLOW_INTERNAL_ONLY"), "labels": tags},
            "good_public_function": {**function("ALLOW_ALL"), "labels": tags},
            "bad_open_function": {**function("ALLOW_ALL"), "labels": tags},
            "bad_default_account_function": {
                **function("ALLOW_INTERNAL_ONLY", DEFAULT_COMPUTE), "labels": tags},
        },
        "google_cloud_run_v2_service": {
            "bad_default_ingress_service": {
                "name": "svc", "location": "europe-west1",
                "template": {"service_account": SERVICE_ACCOUNT,
                             "containers": [{"image": "gcr.io/x/y"}]},
                "labels": tags,
            },
        },
        "google_cloud_run_v2_service_iam_member": {
            "bad_public_invoker": {
                "name": "${google_cloudfunctions2_function.good_public_function.name}",
                "location": "europe-west1", "role": "roles/run.invoker", "member": "allUsers",
            },
        },
        "google_pubsub_topic_iam_member": {
            "good_publisher": {"topic": "${google_pubsub_topic.good_topic.name}",
                               "role": "roles/pubsub.publisher",
                               "member": f"serviceAccount:{SERVICE_ACCOUNT}"},
        },
        "google_storage_bucket_iam_binding": {
            "bad_authenticated_readers": {"bucket": "b", "role": "roles/storage.objectViewer",
                                          "members": ["allAuthenticatedUsers"]},
        },
        "google_storage_bucket_iam_policy": {
            "bad_public_policy": {
                "bucket": "b",
                "policy_data": "${data.google_iam_policy.public_viewer.policy_data}",
            },
        },
        "google_pubsub_topic_iam_policy": {
            "bad_editor_policy": {
                "topic": "t",
                "policy_data": json.dumps(
                    {"bindings": [{"role": "roles/editor", "members": ["group:x@acme.example"]}]}
                ),
            },
        },
        "google_project_iam_member": {
            "bad_project_editor": {"project": "acme-fab", "role": "roles/editor",
                                   "member": f"serviceAccount:{SERVICE_ACCOUNT}"},
            "bad_project_token_creator": {
                "project": "acme-fab", "role": "roles/iam.serviceAccountTokenCreator",
                "member": "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com"},
        },
        "google_service_account_iam_member": {
            "good_push_token_creator": {
                "service_account_id": f"projects/acme-fab/serviceAccounts/{SERVICE_ACCOUNT}",
                "role": "roles/iam.serviceAccountTokenCreator",
                "member": "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com"},
            "bad_act_as": {
                "service_account_id": f"projects/acme-fab/serviceAccounts/{SERVICE_ACCOUNT}",
                "role": "roles/iam.serviceAccountUser", "member": "user:someone@acme.example"},
        },
        "google_secret_manager_secret": {
            "good_secret_cmek": {
                "secret_id": "s1", "labels": tags,
                "replication": {"user_managed": {"replicas": [
                    {"location": "europe-west1",
                     "customer_managed_encryption": {"kms_key_name": KMS_KEY}}]}},
            },
            "bad_secret_auto_no_cmek": {"secret_id": "s2", "labels": tags,
                                        "replication": {"auto": {}}},
            "bad_secret_no_replication": {"secret_id": "s3", "labels": tags},
        },
        "google_storage_bucket": {
            "bad_bucket_labels": {"name": "b", "location": "EU",
                                  "labels": {"environment": env}},
        },
        "google_compute_network": {
            "bad_unlisted_type_labels": {"name": "n", "labels": {"component": "test"}},
        },
        "google_monitoring_alert_policy": {
            "good_alert": {"display_name": "a", "combiner": "OR", "conditions": [],
                           "user_labels": tags},
        },
        "google_bigquery_table": {
            "good_table_partitioned": {"dataset_id": "d", "table_id": "t1", "labels": tags,
                                       "time_partitioning": {"type": "DAY"}},
            "bad_table_unpartitioned": {"dataset_id": "d", "table_id": "t2", "labels": tags},
            "view_reads_table": {"dataset_id": "d", "table_id": "v", "labels": tags,
                                 "view": {"query": "SELECT 1", "use_legacy_sql": False}},
        },
    }  # fmt: skip


def no_kms_stack(env: str) -> dict[str, dict[str, Any]]:
    """A stack without KMS keys: secrets need no CMEK (CKV_CIO_5 does not apply)."""
    return {
        "google_secret_manager_secret": {
            "plain_secret": {"secret_id": "s", "labels": labels(env), "replication": {"auto": {}}}
        }
    }


# Data sources the fabricated checks stack reads (an IAM policy granting allUsers).
CHECKS_DATA = {
    "google_iam_policy": {
        "public_viewer": {
            "binding": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]
        }
    }
}


def document(
    env: str, resources: dict[str, dict[str, Any]], data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A CDKTF-shaped Terraform JSON document (metadata on the stack and every resource)."""
    with_metadata = {
        rtype: {
            name: {"//": {"metadata": {"path": f"{env}/{name}", "uniqueId": name}}, **body}
            for name, body in by_name.items()
        }
        for rtype, by_name in resources.items()
    }
    return {
        "//": {"metadata": {"backend": "local", "stackName": env, "version": "0.21.0"}},
        **({"data": data} if data else {}),
        "provider": {"google": [{"project": f"acme-{env}", "region": "europe-west1"}]},
        "resource": with_metadata,
        "terraform": {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}},
    }


def write_stack(outdir: Path, env: str, data: dict[str, Any]) -> Path:
    """outdir/stacks/<env>/cdk.tf.json, as `cio-platform synth --outdir` lays it out."""
    path = outdir / "stacks" / env / "cdk.tf.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
