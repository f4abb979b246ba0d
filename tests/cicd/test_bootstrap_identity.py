"""Who may be the planner and the deployer (issue 18): the planner reads the state and
nothing more; the deployer's binding is its own mapped attribute, set only for promote.yml's
jobs on refs/heads/main in the GitHub Environment of that name; with the repository and
owner ids configured, both the provider and the bindings use the ids, not names only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.settings import (
    DEPLOY_REF,
    DEPLOY_WORKFLOW,
    BootstrapConfigError,
    load_config,
    load_environment,
)
from tests.cicd.support import REPO, Stacks

ENVIRONMENTS = sorted(p.stem for p in (REPO / "environments").glob("*.yaml"))


def test_the_planner_only_reads_the_state(bootstrap_stacks: Stacks) -> None:
    for env in ENVIRONMENTS:
        stack = bootstrap_stacks[f"bootstrap-{env}"]
        bucket_members = stack["resource"]["google_storage_bucket_iam_member"]
        planner = [m for m in bucket_members.values() if "planner" in m["member"]]
        assert [m["role"] for m in planner] == ["roles/storage.objectViewer"]
        project_roles = {
            m["role"]
            for m in stack["resource"]["google_project_iam_member"].values()
            if "google_service_account.planner" in m["member"]
        }
        writes = {"roles/storage.objectUser", "roles/storage.objectAdmin", "roles/storage.admin"}
        assert not project_roles & writes


def test_the_deployer_needs_main_promote_and_its_environment(bootstrap_stacks: Stacks) -> None:
    repository = load_config().github_repository
    for env in ENVIRONMENTS:
        stack = bootstrap_stacks[f"bootstrap-{env}"]
        (provider,) = stack["resource"]["google_iam_workload_identity_pool_provider"].values()
        deploy = provider["attribute_mapping"]["attribute.deploy"]
        assert f"assertion.ref == '{DEPLOY_REF}'" in deploy
        assert (
            f"assertion.job_workflow_ref == '{repository}/{DEPLOY_WORKFLOW}@{DEPLOY_REF}'" in deploy
        )
        assert deploy.startswith("('environment' in assertion")
        assert deploy.endswith("? assertion.environment : 'none'")
        member = stack["resource"]["google_service_account_iam_member"]["deployer-wif"]["member"]
        assert member.endswith(f"/attribute.deploy/{env}")
        assert "subject/" not in member, "not the subject shared by every job of the Environment"


def test_ids_pin_the_provider_and_both_bindings(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "github_repository: acme/cio\ngithub_repository_id: '991'\n"
        "github_repository_owner_id: '42'\n"
    )
    settings = load_config(config)
    assert settings.attribute_condition() == (
        "assertion.repository == 'acme/cio' && assertion.repository_id == '991'"
        " && assertion.repository_owner_id == '42'"
    )
    deploy = settings.deploy_attribute()
    assert "assertion.repository_id == '991'" in deploy
    assert "assertion.repository_owner_id == '42'" in deploy
    config.write_text("github_repository: acme/cio\ngithub_repository_owner_id: acme\n")
    with pytest.raises(BootstrapConfigError, match="github_repository_owner_id must be digits"):
        load_config(config)


def test_an_environment_may_not_be_named_like_the_non_deploy_value(tmp_path: Path) -> None:
    target = tmp_path / "none.yaml"
    target.write_text((REPO / "environments" / "dev.yaml").read_text())
    with pytest.raises(BootstrapConfigError, match="may not be named 'none'"):
        load_environment(target)
