"""`--json`: the machine-readable report."""

from __future__ import annotations

from tests.preflight.conftest import NUMBER, PROJECT, FakeProject


def test_json_shape(project: FakeProject) -> None:
    project.world.buckets["acme-cio-tfstate-qa"] = False
    run = project.run("--json")
    assert run.code == 1
    report = run.json()
    assert set(report) == {
        "env",
        "project_id",
        "project_number",
        "credentials",
        "status",
        "exit_code",
        "counts",
        "checks",
    }
    assert (report["env"], report["project_id"], report["project_number"]) == (
        "qa",
        PROJECT,
        NUMBER,
    )
    assert (report["status"], report["exit_code"]) == ("findings", 1)
    assert report["counts"] == {
        "ok": len(report["checks"]) - 1,
        "fail": 1,
        "could_not_check": 0,
    }
    for check in report["checks"]:
        assert set(check) == {"check", "subject", "status", "message", "why", "fix"}
        assert check["status"] in {"ok", "fail", "could_not_check"}
        assert isinstance(check["fix"], list)
    (failed,) = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed["check"] == "state"
    assert failed["fix"] == ["gcloud storage buckets update gs://acme-cio-tfstate-qa --versioning"]
    assert {c["check"] for c in report["checks"]} == {
        "project",
        "apis",
        "state",
        "secrets",
        "cmek",
        "channels",
        "orgpolicy",
        "wif",
    }


def test_json_when_nothing_could_start(project: FakeProject) -> None:
    run = project.run("--json", endpoints="")
    assert run.code == 2
    report = run.json()
    assert report["status"] == "could_not_check"
    assert report["checks"] == []
    assert "credentials not found" in report["error"]
