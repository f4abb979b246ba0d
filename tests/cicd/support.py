"""Shared helpers of the CI/CD tests: the workflow files, parsed, and repository paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
PYTHON = REPO / ".venv" / "bin" / "python"
Stacks = dict[str, dict[str, Any]]  # synthesized cdk.tf.json documents by stack name
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>\s+#.*)?$")


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); workflows use it as a string.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step of a workflow's jobs or a composite action."""
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [step for job in document.get("jobs", {}).values() for step in job.get("steps", [])]


def uses_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, reference, trailing comment) of every `uses:` in a file."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = USES.match(line)
        if match:
            found.append((number, match["ref"], (match["comment"] or "").strip()))
    return found
