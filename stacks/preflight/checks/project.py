"""Credentials and project: the project answers, and its number is the one in the file.

Resource Manager v3 `projects.get`. The number names the service agents and the Workload
Identity pool, so the other checks use the number found here.
"""

from __future__ import annotations

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import Clients
from stacks.preflight.results import Result, fail, ok
from stacks.preflight.target import Target

CHECK = "project"


def check(target: Target, clients: Clients) -> tuple[list[Result], str | None]:
    """The results, and the project's number (None when it could not be read)."""
    project_id = target.project_id
    try:
        client = clients.projects()
        project = clients.rpc("resourcemanager", client.get_project, name=f"projects/{project_id}")
    except Exception as exc:
        needs = "resourcemanager.projects.get (roles/browser) on the project"
        return [could_not_check(CHECK, project_id, "resourcemanager", clients, exc, needs)], None
    number = str(project.name).removeprefix("projects/")
    configured = target.env.project_number
    if configured is None:
        return [
            ok(
                CHECK,
                project_id,
                f"reachable; project number {number} (read from Resource Manager; "
                f'`project_number: "{number}"` in {target.env_file} saves the lookup)',
            )
        ], number
    if configured != number:
        return [
            fail(
                CHECK,
                project_id,
                f"project_number {configured} in {target.env_file} is not this project's "
                f"number {number}",
                "the service agents, the Workload Identity pool and the grants the stack makes "
                "are named by number: the apply would grant roles to another project's agents "
                "or fail on accounts that do not exist",
                f'set `project_number: "{number}"` in {target.env_file} (gcloud projects '
                f"describe {project_id} --format='value(projectNumber)')",
            )
        ], number
    return [ok(CHECK, project_id, f"reachable; project number {number} matches")], number
