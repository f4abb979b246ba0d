"""A tiny assertion vocabulary over synthesized Terraform JSON (after AWS CDK's `Template`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


class Template:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    @classmethod
    def from_file(cls, path: Path) -> Template:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        """Resources of a type; `data.<type>` for data sources."""
        if rtype.startswith("data."):
            return dict(self.data.get("data", {}).get(rtype.removeprefix("data."), {}))
        return dict(self.data.get("resource", {}).get(rtype, {}))

    def resource_count_is(self, rtype: str, count: int) -> None:
        actual = len(self.resources(rtype))
        assert actual == count, f"{rtype}: expected {count}, found {actual}"

    def find(self, rtype: str, **props: Any) -> list[dict[str, Any]]:
        """Resources of `rtype` whose properties include `props` (nested dicts match partially)."""
        return [r for r in self.resources(rtype).values() if _matches(r, props)]

    def has_resource_properties(self, rtype: str, **props: Any) -> dict[str, Any]:
        found = self.find(rtype, **props)
        assert found, f"no {rtype} with {props}"
        return found[0]

    def one(self, rtype: str, **props: Any) -> dict[str, Any]:
        found = self.find(rtype, **props)
        assert len(found) == 1, f"expected one {rtype} with {props}, found {len(found)}"
        return found[0]

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for rtype, items in self.data.get("resource", {}).items():
            for name, body in items.items():
                yield rtype, name, body

    def counts(self) -> dict[str, int]:
        return {rtype: len(items) for rtype, items in sorted(self.data.get("resource", {}).items())}


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _matches(actual[k], v) for k, v in expected.items()
        )
    return bool(actual == expected)
