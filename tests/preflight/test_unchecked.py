"""What preflight cannot check is reported as such (exit 2), never as OK or as a failure."""

from __future__ import annotations

from tests.preflight.conftest import NUMBER, PROJECT, FakeProject

CUSTOM = {
    "name": f"projects/{NUMBER}/constraints/custom.noPublicMembers",
    "displayName": "No public members",
    "booleanConstraint": {
        "customConstraintDefinition": {
            "resourceTypes": ["iam.googleapis.com/AllowPolicy"],
            "methodTypes": ["CREATE", "UPDATE"],
            "condition": "resource.bindings.exists(b, b.members.exists(m, m == 'allUsers'))",
            "actionType": "DENY",
        }
    },
}


def test_enforced_custom_constraint_and_a_refused_api_are_could_not_check(
    project: FakeProject,
) -> None:
    project.world.custom_constraints.append(CUSTOM)
    project.world.policies["custom.noPublicMembers"] = {"rules": [{"enforce": True}]}
    project.world.refused.add("iam")
    run = project.run()
    assert run.code == 2, run.stdout + run.stderr
    assert not run.lines("FAIL")
    custom, refused = run.lines("COULD NOT CHECK")
    assert "custom constraints: enforced custom constraint(s) custom.noPublicMembers" in custom
    assert (
        f"gcloud org-policies describe custom.noPublicMembers --effective --project {PROJECT}"
    ) in run.stdout
    assert "--no-invoker-iam-check" in run.stdout
    assert "workloadIdentityPools/github: iam refused the request (HTTP 403" in refused
    assert "iam.workloadIdentityPools.get (roles/iam.workloadIdentityPoolViewer)" in run.stdout


def test_a_finding_outranks_what_could_not_be_checked(project: FakeProject) -> None:
    project.world.refused.add("orgpolicy")
    project.world.buckets["acme-cio-tfstate-qa"] = False
    run = project.run()
    assert run.code == 1
    assert run.lines("FAIL") and run.lines("COULD NOT CHECK")


def test_unreachable_endpoints_exit_2(project: FakeProject) -> None:
    rest = ("resourcemanager", "serviceusage", "storage", "kms", "orgpolicy", "iam")
    endpoints = ",".join(
        [
            *(f"{service}=http://127.0.0.1:9" for service in rest),
            "secretmanager=grpc://127.0.0.1:9",
            "monitoring=grpc://127.0.0.1:9",
        ]
    )
    run = project.run(endpoints=endpoints)
    assert run.code == 2, run.stdout + run.stderr
    assert not run.lines("FAIL")
    assert "cannot reach resourcemanager at http://127.0.0.1:9" in run.stdout
    assert "cannot reach secretmanager at grpc://127.0.0.1:9" in run.stdout
    assert "cannot reach monitoring at grpc://127.0.0.1:9" in run.stdout
    assert "(exit 2)" in run.stdout.splitlines()[-1]


def test_no_credentials_exits_2_and_says_how_to_get_them(project: FakeProject) -> None:
    run = project.run(endpoints="")
    assert run.code == 2
    assert "Google Cloud credentials not found" in run.stderr
    assert "gcloud auth application-default login" in run.stderr


def test_bad_endpoint_override_exits_2(project: FakeProject) -> None:
    run = project.run(endpoints="nosuch=http://127.0.0.1:9")
    assert run.code == 2
    assert "service one of" in run.stderr
