"""The APIs the stacks use are enabled (Service Usage `services.batchGet`).

The list is the bootstrap's (`bootstrap.apis.required_apis`), so the check and the bootstrap
cannot disagree.
"""

from __future__ import annotations

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import Clients
from stacks.preflight.results import Result, fail, ok
from stacks.preflight.target import Target

CHECK = "apis"
BATCH = 20  # batchGet takes at most 30 names


def check(target: Target, clients: Clients) -> list[Result]:
    parent = f"projects/{target.project_number or target.project_id}"
    wanted = sorted(target.apis)
    subject = f"{len(wanted)} required APIs"
    states: dict[str, int] = {}
    try:
        client = clients.service_usage()
        for start in range(0, len(wanted), BATCH):
            names = [f"{parent}/services/{api}" for api in wanted[start : start + BATCH]]
            response = clients.rpc(
                "serviceusage",
                client.batch_get_services,
                request={"parent": parent, "names": names},
            )
            for service in response.services:
                states[str(service.name).rsplit("/", 1)[-1]] = int(service.state)
    except Exception as exc:
        needs = "serviceusage.services.get (roles/serviceusage.serviceUsageViewer)"
        return [could_not_check(CHECK, subject, "serviceusage", clients, exc, needs)]
    enabled_state = 2  # google.api.serviceusage.v1.State.ENABLED
    disabled = [api for api in wanted if states.get(api) != enabled_state]
    if disabled:
        return [
            fail(
                CHECK,
                subject,
                f"not enabled: {', '.join(disabled)}",
                "Terraform's first call to a disabled API fails with SERVICE_DISABLED (403), "
                "leaving the apply half done",
                f"gcloud services enable {' '.join(disabled)} --project {target.project_id}",
            )
        ]
    return [ok(CHECK, subject, "all enabled")]
