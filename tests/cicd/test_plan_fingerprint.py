"""The reviewed-plan fingerprint, drift and output changes, through scripts/plan_summary.py as
a process on plans in Terraform's JSON format (`terraform show -json`).

- Two plans that differ only in values Google computes (a BigQuery table's `num_rows`,
  `etag`, `last_modified_time` while the subscription writes) have the same fingerprint;
  a configured value, an action, `replace_paths` or an output value changes it.
- Drift counts only where `relevant_attributes` says the configuration looks.
- An output-only change is a change (the deploy applies it) and part of the fingerprint.
- The computed-only attributes come from the provider schema: the vendored extract equals
  a fresh extraction from the installed provider package and covers every synthesized type.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cicd.support import REPO, Stacks

SCRIPT = REPO / "scripts" / "plan_summary.py"
EXTRACT = REPO / "scripts" / "data" / "computed_attributes.json"
TABLE = "google_bigquery_table.analytics_events"
FUNCTION = "google_cloudfunctions2_function.track"


def table_state(rows: int, etag: str, modified: int, description: str) -> dict[str, Any]:
    return {
        "dataset_id": "cio_prod_analytics",
        "table_id": "webhook_events",
        "description": description,
        "labels": {"environment": "prod"},
        "effective_labels": {"environment": "prod", "goog-terraform-provisioned": "true"},
        "num_rows": rows,
        "num_bytes": rows * 512,
        "num_long_term_bytes": 0,
        "last_modified_time": modified,
        "etag": etag,
        "time_partitioning": [{"type": "DAY", "field": "received_at"}],
    }


def function_state(uri: str, build: str, memory: str) -> dict[str, Any]:
    return {
        "name": "cio-prod-track",
        "state": "ACTIVE",
        "update_time": "2026-11-30T10:00:00Z",
        "build_config": [{"runtime": "python311", "build": build}],
        "service_config": [{"available_memory": memory, "uri": uri, "gcf_uri": ""}],
    }


def plan(
    *,
    rows: int = 1000,
    etag: str = "e1",
    description: str = "Customer.io reporting webhooks",
    uri: str = "https://cio-prod-track-1.run.app",
    memory: str = "256M",
    outputs: dict[str, Any] | None = None,
    drift: list[dict[str, Any]] | None = None,
    relevant: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A plan updating the events table's description and the track function's memory."""
    before = table_state(rows, etag, 1_764_000_000_000 + rows, "old description")
    after = table_state(rows, etag, 1_764_000_000_000 + rows, description)
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "resource_changes": [
            {
                "address": TABLE,
                "mode": "managed",
                "type": "google_bigquery_table",
                "change": {
                    "actions": ["update"],
                    "before": before,
                    "after": after,
                    "after_unknown": {"time_partitioning": [{}]},
                },
            },
            {
                "address": FUNCTION,
                "mode": "managed",
                "type": "google_cloudfunctions2_function",
                "change": {
                    "actions": ["update"],
                    "before": function_state(uri, f"build-{rows}", "128M"),
                    "after": function_state(uri, f"build-{rows}", memory),
                    "after_unknown": {"update_time": True},
                },
            },
        ],
        "resource_drift": drift or [],
        "relevant_attributes": relevant or [],
        "output_changes": outputs or {},
    }


def summarize(tmp_path: Path, name: str, document: dict[str, Any]) -> dict[str, Any]:
    """Run the script as the pipeline does; return summary.json (and keep summary.md)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "plan.json").write_text(json.dumps(document))
    result = subprocess.run(
        [
            *(sys.executable, str(SCRIPT), str(folder / "plan.json"), "--env", "prod"),
            *("--json", str(folder / "summary.json"), "--markdown", str(folder / "summary.md")),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    summary["markdown"] = (folder / "summary.md").read_text()
    return summary


def test_plans_differing_only_in_computed_values_have_one_fingerprint(tmp_path: Path) -> None:
    reviewed = summarize(tmp_path, "reviewed", plan(rows=1000, etag="e1"))
    # Minutes later the subscription has written rows: new num_rows, num_bytes, etag,
    # last_modified_time; the function was rebuilt elsewhere (build id) and got a new URI.
    later = summarize(
        tmp_path, "later", plan(rows=1873, etag="e2", uri="https://cio-prod-track-2.run.app")
    )
    assert later["fingerprint"] == reviewed["fingerprint"]
    assert later["has_changes"] and (later["change"], later["add"]) == (2, 0)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param({"description": "another description"}, id="configured-value"),
        pytest.param({"memory": "512M"}, id="nested-configured-value"),
        pytest.param({"outputs": {"webhook_url": {"actions": ["create"], "after": "x"}}}, id="out"),
    ],
)
def test_a_configured_change_changes_the_fingerprint(tmp_path: Path, edit: dict) -> None:
    reviewed = summarize(tmp_path, "reviewed", plan())
    changed = summarize(tmp_path, "changed", plan(**edit))
    assert changed["fingerprint"] != reviewed["fingerprint"]


def test_actions_and_replace_paths_are_part_of_the_fingerprint(tmp_path: Path) -> None:
    base = plan()
    replaced = copy.deepcopy(base)
    replaced["resource_changes"][0]["change"]["actions"] = ["delete", "create"]
    replaced["resource_changes"][0]["change"]["replace_paths"] = [["table_id"]]
    other_path = copy.deepcopy(replaced)
    other_path["resource_changes"][0]["change"]["replace_paths"] = [["dataset_id"]]
    prints = {
        summarize(tmp_path, name, doc)["fingerprint"]
        for name, doc in (("base", base), ("replaced", replaced), ("other", other_path))
    }
    assert len(prints) == 3


def test_an_output_only_change_is_a_change_to_apply(tmp_path: Path) -> None:
    quiet = plan()
    quiet["resource_changes"] = []
    nothing = summarize(tmp_path, "nothing", quiet)
    assert nothing["has_changes"] is False
    outputs = {
        "webhook_url": {"actions": ["create"], "before": None, "after": "https://w.run.app"},
        "dead_letter_subscriptions": {"actions": ["no-op"], "before": [], "after": []},
    }
    only_outputs = summarize(tmp_path, "outputs", {**quiet, "output_changes": outputs})
    assert only_outputs["has_changes"] is True
    assert only_outputs["outputs"] == [{"address": "output.webhook_url", "action": "create"}]
    assert (only_outputs["add"], only_outputs["change"], only_outputs["destroy"]) == (0, 0, 0)
    assert "1 output(s) to change" in only_outputs["markdown"]
    assert "| create | `output.webhook_url` |" in only_outputs["markdown"]
    assert only_outputs["fingerprint"] != nothing["fingerprint"]
    assert "https://w.run.app" not in only_outputs["markdown"], "values never shown"


def drifted(address: str, before: dict | None, after: dict | None, *actions: str) -> dict:
    return {
        "address": address,
        "mode": "managed",
        "type": address.split(".", maxsplit=1)[0],
        "change": {"actions": list(actions), "before": before, "after": after},
    }


def test_drift_counts_only_inside_relevant_attributes(tmp_path: Path) -> None:
    busy = drifted(TABLE, table_state(10, "a", 1, "d"), table_state(99, "b", 2, "d"), "update")
    computed_only = summarize(
        tmp_path,
        "computed",
        plan(drift=[busy], relevant=[{"resource": TABLE, "attribute": ["description"]}]),
    )
    assert computed_only["has_drift"] is False and computed_only["drift"] == []
    assert computed_only["drift_ignored"] == 1
    assert "not drift" in computed_only["markdown"]
    assert "**Drift:**" not in computed_only["markdown"]

    relabelled = table_state(99, "b", 2, "d")
    relabelled["labels"] = {"environment": "prod", "edited": "by-hand"}
    edited = drifted(TABLE, table_state(10, "a", 1, "d"), relabelled, "update")
    topic = "google_pubsub_topic.track"
    gone = drifted(topic, {"name": "cio-prod-track"}, None, "delete")
    relevant = [
        {"resource": TABLE, "attribute": ["labels"]},
        {"resource": TABLE, "attribute": ["time_partitioning", 0, "field"]},
    ]
    real = summarize(tmp_path, "real", plan(drift=[edited, gone], relevant=relevant))
    assert real["has_drift"] is True
    assert [d["address"] for d in real["drift"]] == [TABLE, topic]
    assert "**Drift:** 2 resource(s) changed outside Terraform" in real["markdown"]
    assert "by-hand" not in real["markdown"]


def test_the_computed_attribute_extract_comes_from_the_provider_schema(
    synthesized_stacks: Stacks,
) -> None:
    """Regenerated offline from the installed provider package, it equals the vendored file,
    and it covers every Google resource type the stacks synthesize."""
    pytest.importorskip("cdktf_cdktf_provider_google")
    sys.path.insert(0, str(REPO))
    from scripts.computed_schema import bundle_path, document

    vendored = json.loads(EXTRACT.read_text())
    used = sorted(
        {
            kind
            for stack in synthesized_stacks.values()
            for kind in stack.get("resource", {})
            if kind.startswith("google_")
        }
    )
    missing = set(used) - set(vendored["types"])
    assert not missing, f"regenerate: python scripts/computed_schema.py {' '.join(used)}"
    assert document(bundle_path(), sorted(vendored["types"])) == vendored
    table = vendored["types"]["google_bigquery_table"]["computed"]
    assert {"num_rows", "num_bytes", "last_modified_time", "etag"} <= set(table)
    assert "description" not in table and "labels" not in table
