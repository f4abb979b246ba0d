"""The fingerprint of a Terraform JSON plan: what a reviewer approved, as one sha256.

It covers what the plan will do, not what Google happens to report while it runs: per
planned resource change its address, actions, `replace_paths` and the planned values with
the computed-only attributes removed (`after` and `after_unknown`); per planned output
change its name, actions and value. Computed-only attributes (BigQuery's `num_rows`,
`etag`, `last_modified_time`, ...) come from the provider schema, vendored in
`scripts/data/computed_attributes.json` (see scripts/computed_schema.py); they change while
the environment serves traffic and would otherwise make every reviewed plan stale.

`before` is left out: it is the refreshed state, and a value drifting there does not change
what the apply writes. Values are only hashed, never shown. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parent / "data" / "computed_attributes.json"
QUIET_ACTIONS = ({"no-op"}, {"read"})


@cache
def computed_only() -> dict[str, Any]:
    """Resource type -> {"computed": [...], "blocks": {block: {...}}} from the extract."""
    data: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))["types"]
    return data


def is_quiet(actions: object) -> bool:
    """No-op and read change nothing; an empty or missing action list neither."""
    kinds = set(actions) if isinstance(actions, list) else set()
    return not kinds or kinds in QUIET_ACTIONS


def configured(value: Any, tree: Mapping[str, Any] | None) -> Any:
    """`value` (an object of planned values, or a list of them) without computed-only keys."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [configured(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    blocks = tree.get("blocks", {})
    drop = set(tree.get("computed", []))
    return {
        key: configured(item, blocks.get(key)) for key, item in value.items() if key not in drop
    }


def resource_material(entry: Mapping[str, Any]) -> dict[str, Any]:
    change = entry.get("change") or {}
    tree = computed_only().get(str(entry.get("type", "")))
    return {
        "address": entry.get("address"),
        "actions": change.get("actions"),
        "replace_paths": change.get("replace_paths"),
        "after": configured(change.get("after"), tree),
        "after_unknown": configured(change.get("after_unknown"), tree),
    }


def output_material(name: str, change: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "address": f"output.{name}",
        "actions": change.get("actions"),
        "after": change.get("after"),
        "after_unknown": change.get("after_unknown"),
    }


def planned_outputs(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Output name -> its change, for outputs the apply will change."""
    outputs = plan.get("output_changes") or {}
    return {
        str(name): change
        for name, change in sorted(outputs.items())
        if isinstance(change, Mapping) and not is_quiet(change.get("actions"))
    }


def fingerprint(plan: Mapping[str, Any]) -> str:
    """sha256 over every planned managed change and output change, in address order."""
    material = [
        resource_material(entry)
        for entry in plan.get("resource_changes") or []
        if entry.get("mode", "managed") == "managed"
        and not is_quiet((entry.get("change") or {}).get("actions"))
    ]
    material += [output_material(n, c) for n, c in planned_outputs(plan).items()]
    material.sort(key=lambda m: str(m["address"]))
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
