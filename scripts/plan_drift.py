"""Which of a plan's `resource_drift` entries matter: the ones that touch what the
configuration uses.

Terraform lists a resource under `resource_drift` when any refreshed value differs from the
state, computed ones included (BigQuery's `num_rows` after every insert). Its own
human-readable plan shows only the drift inside `relevant_attributes` (the attributes the
configuration or the planned changes depend on); this applies the same filter: an updated
resource counts when a value at one of its relevant attribute paths differs between
`before` and `after`. A resource deleted outside Terraform always counts. Standard library
only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MISSING = object()


def value_at(value: Any, path: Sequence[Any]) -> Any:
    """The value at a Terraform attribute path (names and list indexes), or MISSING."""
    for step in path:
        if isinstance(value, Mapping) and isinstance(step, str):
            value = value.get(step, MISSING)
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        else:
            return MISSING
    return value


def relevant_paths(plan: Mapping[str, Any]) -> dict[str, list[list[Any]]]:
    """Resource address -> its relevant attribute paths."""
    paths: dict[str, list[list[Any]]] = {}
    for item in plan.get("relevant_attributes") or []:
        if isinstance(item, Mapping) and "resource" in item:
            attribute = item.get("attribute")
            paths.setdefault(str(item["resource"]), []).append(
                list(attribute) if isinstance(attribute, list) else []
            )
    return paths


def is_relevant(entry: Mapping[str, Any], paths: Iterable[Sequence[Any]]) -> bool:
    change = entry.get("change") or {}
    before, after = change.get("before"), change.get("after")
    if after is None or "delete" in (change.get("actions") or []):
        return True  # gone outside Terraform: the plan re-creates it
    return any(value_at(before, path) != value_at(after, path) for path in paths)


def relevant_drift(plan: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], int]:
    """(the drift entries that matter, how many were left out as irrelevant)."""
    paths = relevant_paths(plan)
    kept: list[Mapping[str, Any]] = []
    ignored = 0
    for entry in plan.get("resource_drift") or []:
        if is_relevant(entry, paths.get(str(entry.get("address")), [])):
            kept.append(entry)
        else:
            ignored += 1
    return kept, ignored
