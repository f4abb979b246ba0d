"""scripts/plan_summary.py on a fabricated plan in Terraform's documented JSON format
(`terraform show -json`: format_version, resource_changes[].change.actions, resource_drift)."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cicd.support import REPO

SCRIPT = REPO / "scripts" / "plan_summary.py"
SECRET = "s3cr3t-value-never-shown"


def load_module():
    spec = importlib.util.spec_from_file_location("plan_summary", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["plan_summary"] = module
    spec.loader.exec_module(module)
    return module


ps = load_module()


def change(address: str, *actions: str, mode: str = "managed", after=None, **extra) -> dict:
    kind = address.split(".")[-2]
    return {
        "address": address,
        "mode": mode,
        "type": kind,
        "name": address.rsplit(".", maxsplit=1)[-1],
        "provider_name": "registry.terraform.io/hashicorp/google",
        "change": {
            "actions": list(actions),
            "before": None if actions == ("create",) else {"name": "old"},
            "after": after if after is not None else {"name": "new"},
            "after_unknown": {"id": True},
            "before_sensitive": {},
            "after_sensitive": {},
            **extra,
        },
    }


PLAN = {
    "format_version": "1.2",
    "terraform_version": "1.11.4",
    "resource_changes": [
        change("google_pubsub_topic.track", "create"),
        change("google_pubsub_subscription.track-push", "update"),
        change("google_bigquery_table.events", "delete", "create"),
        change("google_storage_bucket.old-source", "delete"),
        change("google_service_account.push", "no-op"),
        change("google_project.this", "read", mode="data"),
        change("google_logging_metric.decisions", "forget"),
        change("google_secret_manager_secret.site-id", "no-op", importing={"id": "x"}),
        change(
            "google_cloudfunctions2_function.track",
            "create",
            "delete",
            after={"env": {"CIO_TRACK_API_KEY": SECRET}},
        ),
    ],
    "resource_drift": [change("google_pubsub_topic.identify", "update")],
    # Terraform lists what the configuration depends on; drift elsewhere is not reported.
    "relevant_attributes": [{"resource": "google_pubsub_topic.identify", "attribute": ["name"]}],
    "output_changes": {},
    "errored": False,
}


def test_counts_like_terraform() -> None:
    summary = ps.summarize(PLAN, "dev", "success")
    assert (summary.add, summary.change, summary.destroy) == (3, 1, 3)
    assert (summary.forget, summary.imports) == (1, 1)
    assert [c.address for c in summary.destroys] == [
        "google_bigquery_table.events",
        "google_storage_bucket.old-source",
        "google_cloudfunctions2_function.track",
    ]
    assert [c.address for c in summary.drift] == ["google_pubsub_topic.identify"]
    assert summary.has_changes


def test_comment_calls_out_destroys_policy_and_drift_and_shows_no_values() -> None:
    text = ps.render_markdown(ps.summarize(PLAN, "prod", "failure"), "https://ci/run/1")
    assert text.startswith("<!-- cio-plan:prod -->")
    assert "3 to add, 1 to change, 3 to destroy, 1 to import, 1 to forget" in text
    assert "❌ FAILED" in text
    assert "> **3 resource(s) will be destroyed:**" in text
    assert "> - `google_bigquery_table.events` (replace)" in text
    assert "**Drift:** 1 resource(s) changed outside Terraform" in text
    assert "[Workflow run](https://ci/run/1)" in text
    assert SECRET not in text and "CIO_TRACK_API_KEY" not in text


def test_no_changes() -> None:
    empty = {
        "format_version": "1.2",
        "resource_changes": [change("google_pubsub_topic.t", "no-op")],
    }
    summary = ps.summarize(empty, "dev")
    assert not summary.has_changes and summary.destroys == []
    text = ps.render_markdown(summary)
    assert "0 to add, 0 to change, 0 to destroy" in text
    assert "No changes" in text and "⚪ not run" in text


def test_fingerprint_is_order_independent_and_value_sensitive() -> None:
    reordered = copy.deepcopy(PLAN)
    reordered["resource_changes"].reverse()
    assert ps.fingerprint(reordered) == ps.fingerprint(PLAN)
    changed = copy.deepcopy(PLAN)
    changed["resource_changes"][0]["change"]["after"] = {"name": "other"}
    assert ps.fingerprint(changed) != ps.fingerprint(PLAN)
    quiet = copy.deepcopy(PLAN)
    quiet["resource_changes"].append(change("google_pubsub_topic.unchanged", "no-op"))
    assert ps.fingerprint(quiet) == ps.fingerprint(PLAN)
    assert len(ps.fingerprint(PLAN)) == 64


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"resource_changes": []}, "no format_version"),
        ({"format_version": "2.0"}, "unsupported plan format_version"),
        ({"format_version": "1.2", "resource_changes": [{"change": {}}]}, "without address"),
        (
            {"format_version": "1.2", "resource_changes": [change("a.b", "delete", "update")]},
            "unknown action combination",
        ),
    ],
)
def test_rejects_what_it_does_not_understand(plan: dict, message: str) -> None:
    with pytest.raises(ps.PlanFormatError, match=message):
        ps.summarize(plan, "dev")


def test_command_line_writes_comment_and_counts(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(plan),
            "--env",
            "staging",
            "--policy",
            "success",
            "--markdown",
            str(tmp_path / "c.md"),
            "--json",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    counts = json.loads((tmp_path / "s.json").read_text())
    assert (counts["add"], counts["change"], counts["destroy"]) == (3, 1, 3)
    assert counts["has_drift"] is True and counts["fingerprint"] == ps.fingerprint(PLAN)
    assert "✅ passed" in (tmp_path / "c.md").read_text()


def test_command_line_explains_a_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("Terraform plan output, not JSON")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(bad), "--env", "dev"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "not JSON" in result.stderr and "Traceback" not in result.stderr


POLICY_REPORT = {
    "checkov_version": "3.3.30",
    "passed": False,
    "environments": {
        "dev": {
            "result": "PASS",
            "resources": 60,
            "passed": 410,
            "failed": [],
            "suppressed": [
                {
                    "check": "CKV_CIO_3",
                    "resource": "google_cloud_run_v2_service_iam_member.public",
                    "suppression": 0,
                    "reason": "the webhook is public",
                }
            ],
            "structure": [],
            "problems": [],
        },
        "prod": {
            "result": "FAIL",
            "resources": 70,
            "passed": 400,
            "failed": [
                {
                    "check": "CKV_CIO_6",
                    "resource": "google_pubsub_topic.track",
                    "name": "labels",
                    "details": [],
                }
            ],
            "suppressed": [],
            "structure": [],
            "problems": [],
        },
    },
}


def test_policy_report_gives_each_environment_its_own_verdict(tmp_path: Path) -> None:
    plan, report = tmp_path / "plan.json", tmp_path / "policy.json"
    plan.write_text(json.dumps(PLAN))
    report.write_text(json.dumps(POLICY_REPORT))
    texts = {}
    for env in ("dev", "prod"):
        result = subprocess.run(
            [
                sys.executable,
                str(SCRIPT),
                str(plan),
                "--env",
                env,
                "--policy",
                "failure",
                "--policy-report",
                str(report),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        texts[env] = result.stdout
    assert "✅ passed (410 checks passed, 0 failed, 1 suppressed)" in texts["dev"]
    assert "❌ FAILED (400 checks passed, 1 failed, 0 suppressed)" in texts["prod"]
    assert "  - CKV_CIO_6 on `google_pubsub_topic.track`" in texts["prod"]
