"""Every secret version a deployed handler reads exists and is enabled (Secret Manager).

A function whose secret has no enabled version cannot start its revision, and the apply
fails after creating half the stack (provider issue #10846). Only version metadata is read
(`ListSecretVersions`), never a payload.
"""

from __future__ import annotations

from typing import Any

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import RETRY, TIMEOUT, Clients
from stacks.preflight.errors import is_not_found
from stacks.preflight.results import Result, fail, ok
from stacks.preflight.target import SecretRead, Target

CHECK = "secrets"
ENABLED = 1  # google.cloud.secretmanager.v1.SecretVersion.State
STATE_NAMES = {1: "ENABLED", 2: "DISABLED", 3: "DESTROYED"}
NEEDS = "secretmanager.versions.list (roles/secretmanager.viewer)"


def _add_command(secret_id: str, project_id: str) -> str:
    return (
        f"printf '%s' \"$VALUE\" | gcloud secrets versions add {secret_id} --data-file=- "
        f"--project {project_id}"
    )


def _versions(clients: Clients, parent: str) -> dict[str, int]:
    """version number -> state, for every version of one secret."""
    client = clients.secrets()

    def listed() -> dict[str, int]:
        pager = client.list_secret_versions(
            request={"parent": parent}, retry=RETRY, timeout=TIMEOUT
        )
        return {str(v.name).rsplit("/", 1)[-1]: int(v.state) for v in pager}

    return clients.call("secretmanager", listed)


def _pin(target: Target, key: str, logical: str, version: str) -> str:
    return f"in {target.env_file}, under `{key}:`, set `{logical}: {version}`"


def _verdict(target: Target, read: SecretRead, versions: dict[str, int]) -> Result:
    project = target.project_id
    readers = ", ".join(read.handlers)
    numbers = [int(n) for n in versions if n.isdigit()]
    next_version = str(max(numbers, default=0) + 1)
    add = _add_command(read.secret_id, project)
    pin = _pin(target, "secret_versions", read.logical, next_version) + (
        " (the version that command creates)"
    )
    why = (
        f"{readers} read{'s' if len(read.handlers) == 1 else ''} it at start; without an "
        "enabled version the function's revision cannot start and the apply fails "
        "(provider issue #10846)"
    )
    if read.version is None:
        subject = f"{read.secret_id} (latest)"
        if any(state == ENABLED for state in versions.values()):
            return ok(CHECK, subject, f"has an enabled version; read by {readers}")
        return fail(CHECK, subject, "no enabled version", why, add, pin)
    subject = f"{read.secret_id} version {read.version} ({read.pinned_by})"
    state = versions.get(read.version)
    if state == ENABLED:
        return ok(CHECK, subject, f"enabled; read by {readers}")
    found = {2: "is disabled", 3: "is destroyed"}.get(state or 0, "does not exist")
    message = f"the pinned version {found}"
    if state == 2:
        enable = (
            f"gcloud secrets versions enable {read.version} --secret {read.secret_id} "
            f"--project {project}"
        )
        return fail(CHECK, subject, message, why, enable)
    if read.pinned_by == "previous_secret_versions":
        choice = (
            f"in {target.env_file}, set previous_secret_versions.{read.logical} to an enabled "
            "version from that list, or remove it once the rotation is over"
        )
        listing = (
            f"gcloud secrets versions list {read.secret_id} --project {project} "
            "--filter=state:enabled"
        )
        return fail(CHECK, subject, message, why, listing, choice)
    return fail(CHECK, subject, message, why, add, pin)


def check(target: Target, clients: Clients) -> list[Result]:
    if not target.env.deploy_handlers:
        return [ok(CHECK, "handlers", "deploy_handlers is false: no handler reads a secret yet")]
    reads = target.secret_reads()
    if not reads:
        return [ok(CHECK, "handlers", "no deployed handler reads a secret")]
    results: list[Result] = []
    listed: dict[str, dict[str, int] | BaseException] = {}
    for read in reads:
        parent = f"projects/{target.project_id}/secrets/{read.secret_id}"
        if read.secret_id not in listed:
            try:
                listed[read.secret_id] = _versions(clients, parent)
            except Exception as exc:
                listed[read.secret_id] = exc
        outcome: Any = listed[read.secret_id]
        if isinstance(outcome, dict):
            results.append(_verdict(target, read, outcome))
        elif is_not_found(outcome):
            results.append(_missing_secret(target, read))
        else:
            results.append(
                could_not_check(CHECK, read.secret_id, "secretmanager", clients, outcome, NEEDS)
            )
    return results


def _missing_secret(target: Target, read: SecretRead) -> Result:
    return fail(
        CHECK,
        read.secret_id,
        f"the secret does not exist yet (read by {', '.join(read.handlers)})",
        "this apply would create it empty and deploy handlers that read it: their revisions "
        "cannot start (provider issue #10846). Deploy the platform first, then add the value",
        f"set `deploy_handlers: false` in {target.env_file} and apply (creates the empty secrets)",
        _add_command(read.secret_id, target.project_id),
        "then set `deploy_handlers: true` and "
        + _pin(target, "secret_versions", read.logical, "1"),
    )
