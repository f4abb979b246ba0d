"""The Terraform state bucket exists and keeps object versions (Cloud Storage `buckets.get`)."""

from __future__ import annotations

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import Clients
from stacks.preflight.errors import is_not_found
from stacks.preflight.results import Result, fail, ok
from stacks.preflight.target import Target

CHECK = "state"


def check(target: Target, clients: Clients) -> list[Result]:
    name = target.env.state_bucket
    subject = f"gs://{name}"
    try:
        client = clients.storage(target.project_id)
        bucket = clients.rpc("storage", client.get_bucket, bucket_or_name=name)
    except Exception as exc:
        if is_not_found(exc):
            return [
                fail(
                    CHECK,
                    subject,
                    "the state bucket does not exist",
                    "`terraform init` cannot open the GCS backend, so nothing can be planned "
                    "or applied",
                    "run the bootstrap for this environment (docs/deploy.md, step 2), or: "
                    f"gcloud storage buckets create gs://{name} --project {target.project_id} "
                    f"--location {target.env.region} --uniform-bucket-level-access "
                    "--public-access-prevention",
                    f"gcloud storage buckets update gs://{name} --versioning",
                )
            ]
        needs = "storage.buckets.get (roles/storage.bucketViewer)"
        return [could_not_check(CHECK, subject, "storage", clients, exc, needs)]
    if not bucket.versioning_enabled:
        return [
            fail(
                CHECK,
                subject,
                "object versioning is off",
                "every apply overwrites the only copy of the state: a failed or concurrent "
                "write cannot be rolled back, and the resources it tracked become unmanaged",
                f"gcloud storage buckets update gs://{name} --versioning",
            )
        ]
    return [ok(CHECK, subject, "exists, versioning on")]
