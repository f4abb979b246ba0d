"""A project where everything the first apply needs is in place, and variations that are fine."""

from __future__ import annotations

from tests.preflight.conftest import NUMBER, FakeProject, key_name


def test_all_green_exits_0_with_one_ok_line_per_check(project: FakeProject) -> None:
    run = project.run()
    assert run.code == 0, run.stdout + run.stderr
    assert not run.lines("FAIL") and not run.lines("COULD NOT CHECK")
    text = run.stdout
    for expected in (
        "project number 555555555555 matches",
        "required APIs: all enabled",
        "gs://acme-cio-tfstate-qa: exists, versioning on",
        "cio-qa-site-id version 1 (secret_versions): enabled",
        "cio-qa-track-api-key version 2 (secret_versions): enabled",
        "cio-qa-webhook-signing-key (latest): has an enabled version",
        "pubsub in europe-west1: key",
        "bigquery in europe: key",
        "secretmanager in global: key",
        "exists: platform on-call",
        "iam.allowedPolicyMemberDomains: allows allUsers",
        "workloadIdentityPools/github: active",
        "workloadIdentityPools/github/providers/github-actions: active",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    assert "(exit 0)" in text.splitlines()[-1]
    # read-only, and never a secret value
    assert "AccessSecretVersion" not in project.store.calls
    assert "ListSecretVersions" in project.store.calls
    assert all(call.startswith(("GET ", "GetNotificationChannel")) for call in project.calls)


def test_unusual_but_fine(project: FakeProject) -> None:
    """No project_number (read and reported), a grant on the key ring, a managed constraint
    that allows allUsers, a custom constraint on other resources, a pinned previous version."""
    del project.env["project_number"]
    pubsub = f"serviceAccount:service-{NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
    project.world.grants[key_name("europe-west1")].discard(pubsub)
    ring = key_name("europe-west1").rsplit("/cryptoKeys/", 1)[0]
    project.world.grants[ring] = {pubsub}
    project.world.policies["iam.managed.allowedPolicyMembers"] = {
        "rules": [{"enforce": True, "parameters": {"allowedMemberSubjects": ["allUsers"]}}]
    }
    project.world.custom_constraints.append(
        {
            "name": f"projects/{NUMBER}/constraints/custom.bucketsInEu",
            "booleanConstraint": {
                "customConstraintDefinition": {"resourceTypes": ["storage.googleapis.com/Bucket"]}
            },
        }
    )
    project.world.policies["custom.bucketsInEu"] = {"rules": [{"enforce": True}]}
    project.store.add("acme-cio-qa", "cio-qa-webhook-signing-key", "new")
    project.env["previous_secret_versions"] = {"webhook-signing-key": 1}
    run = project.run()
    assert run.code == 0, run.stdout + run.stderr
    assert f"project number {NUMBER} (read from Resource Manager" in run.stdout
    assert "cio-qa-webhook-signing-key version 1 (previous_secret_versions): enabled" in run.stdout
    assert "iam.managed.allowedPolicyMembers: allows allUsers" in run.stdout


def test_first_deploy_without_handlers_needs_no_secret_values(project: FakeProject) -> None:
    project.store.secrets.clear()
    project.world.policies["iam.allowedPolicyMemberDomains"] = {"rules": [{"denyAll": True}]}
    project.env["deploy_handlers"] = False
    run = project.run()
    assert run.code == 0, run.stdout
    assert "deploy_handlers is false" in run.stdout
    assert "no public handler in this deploy" in run.stdout
