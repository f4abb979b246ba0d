"""`cio-doctor secrets`: which secret version each handler runs, against the latest one.

Secret Manager values injected as environment variables are read when an instance starts:
after a new version is added, running instances keep the old value until they are replaced.
So for each handler's service (Cloud Functions 2nd gen run as Cloud Run services named
`<prefix>-<env>-<handler>`) this compares the secret references of its latest ready revision,
and when that revision was created, with the latest enabled version of each secret.

The service list comes through a small interface (`ServiceSource`): Cloud Run's REST API in
the cloud (`CLOUDRUN_API_ENDPOINT` points it at a local server in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cio_shared import contract

from cio_doctor import google_rest
from cio_doctor.config import EnvFile
from cio_doctor.findings import CannotCheck, Check, Report, Severity, running_check
from cio_doctor.gcloud import google_client, google_error


def logical_secrets(env: EnvFile) -> tuple[str, ...]:
    """The contract's secrets this environment uses: the Track credentials or the Pipelines
    key, by its `customerio.api` (the other API's secret exists but stays empty on purpose)."""
    unused = (
        set(contract.TRACK_CREDENTIALS.values())
        if env.delivery_api == "pipelines"
        else {contract.PIPELINES_SECRET}
    )
    return tuple(s for s in contract.SECRET_NAMES if s not in unused)


CLOUD_RUN = "https://run.googleapis.com"
ROLL_COMMAND = (
    "gcloud run services update {service} --region {region} "
    "--update-labels=secret-rollout=$(date +%s)"
)


@dataclass
class SecretState:
    secret_id: str
    latest_enabled: str | None = None
    latest_created: datetime | None = None
    enabled: list[str] = field(default_factory=list)
    created: dict[str, datetime | None] = field(default_factory=dict)

    def latest_at(self, moment: datetime) -> str | None:
        """The newest enabled version that existed at `moment` (what `latest` meant then)."""
        before = [v for v in self.enabled if (self.created.get(v) or moment) <= moment]
        return before[-1] if before else None

    missing: bool = False


@dataclass(frozen=True)
class SecretRef:
    env_var: str
    secret_id: str
    version: str


@dataclass
class Service:
    name: str
    revision: str
    revision_created: datetime | None
    refs: list[SecretRef]


class ServiceSource(Protocol):
    def services(self, env: EnvFile) -> list[Service]: ...


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class CloudRunServices:
    """Services of the environment from Cloud Run's v2 REST API (read-only).

    For each service, its latest ready revision is read: the revision's containers are what
    runs (the service template may describe a revision that is not ready yet), and its
    createTime says which secret versions `latest` could have resolved to.
    """

    def services(self, env: EnvFile) -> list[Service]:
        path = f"v2/projects/{env.project_id}/locations/{env.gcp_region}/services"
        body = google_rest.get_json("CLOUDRUN_API_ENDPOINT", CLOUD_RUN, path)
        if not isinstance(body, dict):
            raise CannotCheck("Cloud Run answered something other than a service list")
        prefix = f"{env.prefix}-{env.name}-"
        found = []
        for item in body.get("services", []):
            name = str(item.get("name", "")).rsplit("/", 1)[-1]
            revision_path = str(item.get("latestReadyRevision", ""))
            if not name.startswith(prefix):
                continue
            if not revision_path:
                found.append(Service(name, "(none ready)", None, []))
                continue
            revision = google_rest.get_json(
                "CLOUDRUN_API_ENDPOINT", CLOUD_RUN, f"v2/{revision_path}"
            )
            found.append(_service(name, revision_path.rsplit("/", 1)[-1], revision))
        return found


def _service(name: str, revision_name: str, revision: dict[str, Any]) -> Service:
    refs = []
    for container in revision.get("containers", []):
        for var in container.get("env", []):
            ref = var.get("valueSource", {}).get("secretKeyRef")
            if ref:
                refs.append(
                    SecretRef(
                        var.get("name", ""),
                        str(ref["secret"]).rsplit("/", 1)[-1],
                        str(ref.get("version", "latest")),
                    )
                )
    return Service(name, revision_name, _time(revision.get("createTime")), refs)


def secret_states(env: EnvFile) -> dict[str, SecretState]:
    from cio_shared.common import secret_manager_client
    from google.api_core import exceptions

    client = google_client(secret_manager_client, "Secret Manager")
    states: dict[str, SecretState] = {}
    for logical in logical_secrets(env):
        secret_id = env.resource(logical)
        state = SecretState(secret_id)
        parent = f"projects/{env.project_id}/secrets/{secret_id}"
        try:
            versions = list(client.list_secret_versions(request={"parent": parent}, timeout=10))
        except exceptions.NotFound:
            state.missing = True
            states[secret_id] = state
            continue
        except exceptions.GoogleAPICallError as exc:
            raise CannotCheck(f"cannot list versions of {secret_id}: {google_error(exc)}") from None
        enabled = [v for v in versions if v.state.name == "ENABLED"]
        enabled.sort(key=lambda v: int(v.name.rsplit("/", 1)[-1]))
        state.enabled = [v.name.rsplit("/", 1)[-1] for v in enabled]
        state.created = {v.name.rsplit("/", 1)[-1]: _time(v.create_time) for v in enabled}
        if enabled:
            state.latest_enabled = state.enabled[-1]
            state.latest_created = _time(enabled[-1].create_time)
        states[secret_id] = state
    return states


def _secret_findings(check: Check, states: dict[str, SecretState]) -> None:
    check.data["secrets"] = [
        {
            "secret": s.secret_id,
            "latest_enabled": s.latest_enabled,
            "created": s.latest_created.isoformat() if s.latest_created else None,
            "enabled_versions": s.enabled,
        }
        for s in states.values()
    ]
    for s in states.values():
        if s.missing:
            check.add(
                Severity.HIGH,
                "secret_missing",
                f"secret {s.secret_id} does not exist",
                "",
                "Deploy the stack (it creates the secrets), then add a version.",
            )
        elif not s.latest_enabled:
            check.add(
                Severity.HIGH,
                "secret_without_version",
                f"secret {s.secret_id} has no enabled version",
                "Handlers that use it cannot start.",
                f"printf '%s' VALUE | gcloud secrets versions add {s.secret_id} --data-file=-",
            )


def _service_rows(
    check: Check, env: EnvFile, service: Service, states: dict[str, SecretState]
) -> list[dict[str, Any]]:
    table = []
    for ref in service.refs:
        state = states.get(ref.secret_id)
        latest = state.latest_enabled if state else None
        row = {
            "service": service.name,
            "revision": service.revision,
            "variable": ref.env_var,
            "secret": ref.secret_id,
            "version_ref": ref.version,
            "latest_enabled": latest,
            "runs": ref.version,
        }
        table.append(row)
        if state is None or latest is None:
            continue
        roll = ROLL_COMMAND.format(service=service.name, region=env.gcp_region)
        if ref.version == "latest":
            started_before = (
                service.revision_created
                and state.latest_created
                and service.revision_created < state.latest_created
            )
            at_start = (
                state.latest_at(service.revision_created) if service.revision_created else None
            )
            row["runs"] = (
                f"{at_start or 'an older version'} on instances started before version {latest} "
                f"was added, {latest} on newer ones"
                if started_before
                else latest
            )
            if started_before:
                check.add(
                    Severity.MEDIUM,
                    "secret_not_rolled",
                    f"{service.name} may still run the previous {ref.secret_id}",
                    f"Revision {service.revision} was created before version {latest}; "
                    "instances started before it keep the old value.",
                    f"Roll a new revision: {roll}",
                )
        elif ref.version not in state.enabled:
            check.add(
                Severity.CRITICAL,
                "secret_version_disabled",
                f"{service.name} pins {ref.secret_id} version {ref.version}, which is not enabled",
                "New instances fail to start.",
                "Re-enable the version, or point the reference at an enabled one.",
            )
        elif ref.version != latest and not ref.env_var.endswith("_PREVIOUS"):
            check.add(
                Severity.HIGH,
                "secret_pinned_old",
                f"{service.name} runs {ref.secret_id} version {ref.version}; latest is {latest}",
                "A newer version was added but the environment file still pins this one, so "
                "every instance keeps the old value.",
                f"Finish the rotation: set secret_versions.{_logical(env, ref.secret_id)}: "
                f'"{latest}" in environments/{env.name}.yaml and deploy (a new revision rolls '
                "every instance).",
            )
        elif ref.version != latest:
            check.add(
                Severity.INFO,
                "rotation_in_progress",
                f"{service.name} still accepts {ref.secret_id} version {ref.version} as previous",
                "",
                "Finish the rotation: remove previous_secret_versions from "
                "the environment file and deploy.",
            )
    return table


def _logical(env: EnvFile, secret_id: str) -> str:
    """`cio-prod-track-api-key` -> `track-api-key`, the key of secret_versions."""
    return secret_id.removeprefix(f"{env.prefix}-{env.name}-")


def rotation_report(env: EnvFile, source: ServiceSource) -> Report:
    report = Report("secrets", env.name)
    states: dict[str, SecretState] = {}
    with running_check("secret versions") as check:
        states = secret_states(env)
        _secret_findings(check, states)
    report.checks.append(check)
    with running_check("handler secret versions") as services:
        table = []
        for service in source.services(env):
            table.extend(_service_rows(services, env, service, states))
        services.data["references"] = table
        if not table:
            services.add(
                Severity.LOW,
                "no_services",
                "no handler services found",
                f"No Cloud Run service named {env.prefix}-{env.name}-* in {env.gcp_region}.",
                "Check the region and that the handlers are deployed.",
            )
    report.checks.append(services)
    return report
