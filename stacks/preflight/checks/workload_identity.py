"""The Workload Identity pool and GitHub provider exist and are active (IAM v1, discovery client).

CI authenticates through them (`python -m bootstrap.ci identity`); without them neither the
plan nor the deploy workflow gets credentials. google-cloud-iam has no client for pools, so
this uses the discovery-based client with the document shipped in its wheel.
"""

from __future__ import annotations

from typing import Any

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import Clients
from stacks.preflight.errors import is_not_found
from stacks.preflight.results import Result, fail, ok
from stacks.preflight.target import Target

CHECK = "wif"
NEEDS = "iam.workloadIdentityPools.get (roles/iam.workloadIdentityPoolViewer)"
WHY = (
    "the plan and deploy workflows authenticate through it (google-github-actions/auth); "
    "without it CI cannot plan or apply this environment"
)


def _get(clients: Clients, name: str, provider: bool) -> dict[str, Any]:
    pools = clients.iam().projects().locations().workloadIdentityPools()
    request = (pools.providers() if provider else pools).get(name=name)
    result: dict[str, Any] = clients.call("iam", lambda: request.execute(num_retries=1))
    return result


def check(target: Target, clients: Clients) -> list[Result]:
    project = target.project_number or target.project_id
    pool = f"projects/{project}/locations/global/workloadIdentityPools/{target.pool_id}"
    bootstrap = "run the bootstrap for this environment (docs/deploy.md, step 2), or: "
    results: list[Result] = []
    for provider, name, create in (
        (
            False,
            pool,
            f"gcloud iam workload-identity-pools create {target.pool_id} --location global "
            f"--project {target.project_id}",
        ),
        (
            True,
            f"{pool}/providers/{target.provider_id}",
            f"python -m bootstrap.app, then terraform apply in "
            f"cdktf.out/bootstrap/stacks/bootstrap-{target.env.name} (the provider's "
            "attribute condition comes from bootstrap/config.yaml)",
        ),
    ):
        subject = name.removeprefix(f"projects/{project}/locations/global/")
        try:
            found = _get(clients, name, provider)
        except Exception as exc:
            if is_not_found(exc):
                results.append(fail(CHECK, subject, "does not exist", WHY, bootstrap + create))
            else:
                results.append(could_not_check(CHECK, subject, "iam", clients, exc, NEEDS))
            break  # a provider cannot be checked without its pool
        state = str(found.get("state", "STATE_UNSPECIFIED"))
        if state != "ACTIVE" or found.get("disabled"):
            kind = "workload-identity-pools providers" if provider else "workload-identity-pools"
            where = (
                f"{target.provider_id} --workload-identity-pool {target.pool_id}"
                if provider
                else target.pool_id
            )
            action = "undelete" if state == "DELETED" else "update-oidc" if provider else "update"
            suffix = "" if state == "DELETED" else " --no-disabled"
            results.append(
                fail(
                    CHECK,
                    subject,
                    f"state {state}{', disabled' if found.get('disabled') else ''}",
                    WHY,
                    f"gcloud iam {kind} {action} {where} --location global "
                    f"--project {target.project_id}{suffix}",
                )
            )
            break
        results.append(ok(CHECK, subject, "active"))
    return results
