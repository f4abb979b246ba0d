"""The smoke check's own identity (`cio-<env>-smoke`), least privilege: the bootstrap creates
it for promote.yml's jobs on main in the GitHub Environment only (the deployer's principal
set), with `roles/bigquery.jobUser` as its one project-level role; the environment stacks
grant it, on exactly the resources the smoke check touches, viewer on every topic and
subscription, the signing key, the raw events dataset and the webhook events' dead letters;
promote.yml's smoke step runs as it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import roles
from stacks.config import load_environments
from stacks.identities import smoke_account_id
from tests.cicd.support import PYTHON, REPO, Stacks, load

ENVIRONMENTS = {env.name: env for env in load_environments(folder=REPO / "environments")}
REFERENCE = re.compile(r"^\$\{(?P<type>[a-z0-9_]+)\.(?P<key>[^.]+)\.(?P<attribute>[a-z_]+)\}$")
# grant type -> the attribute naming the resource it is on
GRANT_TARGET = {
    "google_pubsub_topic_iam_member": "topic",
    "google_pubsub_subscription_iam_member": "subscription",
    "google_secret_manager_secret_iam_member": "secret_id",
    "google_bigquery_dataset_iam_member": "dataset_id",
}
VIEWER, SUBSCRIBER = "roles/pubsub.viewer", "roles/pubsub.subscriber"
SMOKE_PROJECT_ROLES = {"roles/bigquery.jobUser"}


def smoke_member(stack: dict[str, Any], env: str) -> str:
    """`serviceAccount:${data.google_service_account.<key>.email}` of the one smoke lookup."""
    lookups = stack["data"]["google_service_account"]
    (key,) = [k for k, a in lookups.items() if a["account_id"] == f"cio-{env}-smoke"]
    assert lookups[key]["account_id"] == smoke_account_id(ENVIRONMENTS[env])
    return f"serviceAccount:${{data.google_service_account.{key}.email}}"


def resolve(stack: dict[str, Any], reference: str) -> str:
    """`${google_pubsub_topic.KEY.name}` -> that topic's name (as declared in the stack)."""
    match = REFERENCE.match(reference)
    assert match, f"{reference!r} is not a reference to a resource of the stack"
    return str(stack["resource"][match["type"]][match["key"]][match["attribute"]])


def smoke_grants(stack: dict[str, Any], member: str) -> set[tuple[str, str, str]]:
    """(grant type, resource name, role) of every IAM grant of any type naming `member`."""
    found = set()
    for rtype, resources in stack.get("resource", {}).items():
        for body in resources.values():
            text = json.dumps(body)
            if member.removeprefix("serviceAccount:") not in text:
                continue
            assert body.get("member") == member, f"{rtype}: the smoke account only as member"
            assert rtype in GRANT_TARGET, f"{rtype}: an unexpected grant to the smoke account"
            found.add((rtype, resolve(stack, body[GRANT_TARGET[rtype]]), body["role"]))
    return found


def expected_grants(stack: dict[str, Any], env: str) -> set[tuple[str, str, str]]:
    resources = stack["resource"]
    topics = {t["name"] for t in resources["google_pubsub_topic"].values()}
    subscriptions = {s["name"] for s in resources["google_pubsub_subscription"].values()}
    return (
        {("google_pubsub_topic_iam_member", name, VIEWER) for name in topics}
        | {("google_pubsub_subscription_iam_member", name, VIEWER) for name in subscriptions}
        | {
            (
                "google_pubsub_subscription_iam_member",
                f"cio-{env}-webhook-events-dead-letter",
                SUBSCRIBER,
            ),
            (
                "google_secret_manager_secret_iam_member",
                f"cio-{env}-webhook-signing-key",
                "roles/secretmanager.secretAccessor",
            ),
            (
                "google_bigquery_dataset_iam_member",
                f"cio_{env}_analytics",
                "roles/bigquery.dataViewer",
            ),
        }
    )


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_the_stack_grants_the_smoke_account_exactly_its_reads(
    synthesized_stacks: Stacks, env: str
) -> None:
    stack = synthesized_stacks[env]
    assert ENVIRONMENTS[env].deploy_handlers, "the repository's environments deploy the webhook"
    member = smoke_member(stack, env)
    grants = smoke_grants(stack, member)
    assert grants == expected_grants(stack, env)
    # the BigQuery subscription whose state it reads, and the dead letters it pulls, are there
    assert ("google_pubsub_subscription_iam_member", f"cio-{env}-webhook-events-bq", VIEWER) in (
        grants
    )
    assert {role for _, _, role in grants} == {
        VIEWER,
        SUBSCRIBER,
        "roles/secretmanager.secretAccessor",
        "roles/bigquery.dataViewer",
    }
    project_members = stack["resource"].get("google_project_iam_member", {}).values()
    assert member not in {m["member"] for m in project_members}, "nothing project-wide"


def test_the_deployer_can_make_those_grants(synthesized_stacks: Stacks) -> None:
    """Each grant's type is one the deployer manages (secret IAM through its custom role,
    dataset IAM through dataOwner, topic and subscription IAM through pubsub.admin), and the
    planner refreshes; the custom role can set a secret's IAM but not read its value."""
    deployer, planner = roles.deployer_roles(), roles.planner_roles()
    for env, stack in synthesized_stacks.items():
        for rtype, _, _ in smoke_grants(stack, smoke_member(stack, env)):
            access = roles.RESOURCE_ROLES[rtype]
            assert access.deployer in deployer and access.planner in planner, rtype
    assert roles.RESOURCE_ROLES["google_secret_manager_secret_iam_member"].deployer == (
        roles.SECRETS_ROLE
    )
    assert "secretmanager.secrets.setIamPolicy" in roles.SECRETS_ROLE_PERMISSIONS
    assert "secretmanager.versions.access" not in roles.SECRETS_ROLE_PERMISSIONS


def test_no_webhook_no_smoke_access(tmp_path: Path) -> None:
    """A first deploy (`deploy_handlers: false`) has no webhook to sign for: no lookup (the
    account may not exist yet) and no grant."""
    from stacks.app import synth

    data = yaml.safe_load((REPO / "environments" / "dev.yaml").read_text())
    folder = tmp_path / "environments"
    folder.mkdir()
    (folder / "dev.yaml").write_text(yaml.safe_dump({**data, "deploy_handlers": False}))
    out = synth(load_environments(folder=folder), tmp_path / "out")
    text = Path(out["dev"]).read_text()
    assert "cio-dev-smoke" not in text
    assert "smoke" not in json.dumps(json.loads(text).get("resource", {}))


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_the_bootstrap_creates_it_for_deploy_jobs_only(bootstrap_stacks: Stacks, env: str) -> None:
    resources = bootstrap_stacks[f"bootstrap-{env}"]["resource"]
    account = resources["google_service_account"]["smoke"]
    assert account["account_id"] == f"cio-{env}-smoke" == smoke_account_id(ENVIRONMENTS[env])
    reference = "${google_service_account.smoke."
    on_account = {
        key: m
        for key, m in resources["google_service_account_iam_member"].items()
        if m["service_account_id"].startswith(reference)
    }
    assert set(on_account) == {"smoke-wif"}, "only the GitHub binding, no actAs for anyone"
    wif = on_account["smoke-wif"]
    assert wif["role"] == "roles/iam.workloadIdentityUser"
    deployer = resources["google_service_account_iam_member"]["deployer-wif"]
    assert wif["member"] == deployer["member"]
    assert wif["member"].endswith(f"/attribute.deploy/{env}")
    member = f"serviceAccount:{reference}email}}"
    granted = {
        m["role"] for m in resources["google_project_iam_member"].values() if m["member"] == member
    }
    assert granted == SMOKE_PROJECT_ROLES == set(roles.SMOKE_PROJECT_ROLES)
    everywhere = [
        (rtype, key)
        for rtype, items in resources.items()
        for key, body in items.items()
        if member in json.dumps(body) and rtype != "google_project_iam_member"
    ]
    assert everywhere == [], "no bucket, state or account access"
    assert not [
        k
        for k, m in resources["google_service_account_iam_member"].items()
        if m["member"] == member
    ], "the smoke account may act as no other account"


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_the_workflows_log_in_with_the_bootstrap_s_name(bootstrap_stacks: Stacks, env: str) -> None:
    result = subprocess.run(
        [str(PYTHON), "-m", "bootstrap.ci", "identity", env],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    identity = dict(line.split("=", 1) for line in result.stdout.splitlines())
    account = bootstrap_stacks[f"bootstrap-{env}"]["resource"]["google_service_account"]["smoke"]
    project = ENVIRONMENTS[env].project_id
    assert identity["smoke"] == f"{account['account_id']}@{project}.iam.gserviceaccount.com"


def test_gcp_auth_accepts_the_smoke_account(tmp_path: Path) -> None:
    action = load(REPO / ".github/actions/gcp-auth/action.yml")
    script = next(s for s in action["runs"]["steps"] if s.get("id") == "identity")["run"]
    out = tmp_path / "out"
    out.write_text("")
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={
            "PATH": os.environ["PATH"],
            "GITHUB_OUTPUT": str(out),
            "RUNNER_TEMP": str(tmp_path),
            "TARGET_ENV": "prod",
            "ACCOUNT": "smoke",
        },
    )
    assert result.returncode == 0, result.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    project = ENVIRONMENTS["prod"].project_id
    assert outputs["service_account"] == f"cio-prod-smoke@{project}.iam.gserviceaccount.com"


def test_promote_smokes_as_the_smoke_account_in_the_environment() -> None:
    jobs = load(REPO / ".github/workflows/promote.yml")["jobs"]
    smoke = jobs["smoke"]
    # The token of the deployer's principal set needs the Environment claim (bootstrap).
    assert smoke["environment"] == "${{ inputs.environment }}"
    assert smoke["if"] == "needs.deploy.result == 'success'", "after an apply only"
    assert smoke["permissions"] == {"contents": "read", "id-token": "write"}
    steps = smoke["steps"]
    (run,) = [i for i, s in enumerate(steps) if "make smoke" in s.get("run", "")]
    logins = [i for i, s in enumerate(steps) if "gcp-auth" in s.get("uses", "")]
    assert len(logins) == 1 and logins[0] < run, "one login, before the smoke step"
    assert steps[logins[0]]["with"] == {
        "environment": "${{ inputs.environment }}",
        "account": "smoke",
    }
    assert "BigQuery" in steps[run]["name"], "the step says what it proves"
    for name, job in jobs.items():  # no other job logs in as the smoke account
        accounts = {s["with"]["account"] for s in job["steps"] if "gcp-auth" in s.get("uses", "")}
        assert ("smoke" in accounts) == (name == "smoke"), name
