"""Read a synthesized stack back: resources by type, for summaries and tests."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def load_stack(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def resource_counts(stack: dict[str, Any]) -> Counter[str]:
    return Counter({rtype: len(items) for rtype, items in stack.get("resource", {}).items()})


def format_summary(name: str, stack: dict[str, Any]) -> str:
    counts = resource_counts(stack)
    lines = [f"{name}: {sum(counts.values())} resources, {len(counts)} types"]
    lines += [f"  {count:>3}  {rtype}" for rtype, count in sorted(counts.items())]
    return "\n".join(lines)
