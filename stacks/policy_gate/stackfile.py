"""A synthesized stack read back: resources by address, with their construct paths."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK_FILE = "cdk.tf.json"


@dataclass(frozen=True)
class ResourceInfo:
    address: str  # google_storage_bucket.handlers_sources_602D480E
    type: str
    name: str
    path: str  # construct path below the stack (handlers/sources), or "" when not from CDKTF


@dataclass(frozen=True)
class StackFile:
    env: str
    path: Path
    data: dict[str, Any]
    resources: dict[str, ResourceInfo]  # managed resources by address
    data_sources: dict[str, ResourceInfo]  # by address: data.<type>.<name>

    @classmethod
    def load(cls, env: str, path: Path) -> StackFile:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a Terraform JSON document is an object")
        resources = _entities(data.get("resource"), "", env)
        sources = _entities(data.get("data"), "data.", env)
        return cls(env, path, data, resources, sources)

    def info(self, address: str) -> ResourceInfo:
        return self.resources.get(address) or self.data_sources[address]

    def address_of(self, checkov_resource: str) -> str:
        """The address of a checkov record's resource.

        Checkov's terraform_json runner names resources `resource.<name>` and data sources
        `data.<name>` (without the type); CDKTF names are unique across types, so the name
        identifies the entity.
        """
        if checkov_resource in self.resources or checkov_resource in self.data_sources:
            return checkov_resource
        kind, _, name = checkov_resource.partition(".")
        pool = self.data_sources if kind == "data" else self.resources
        found = [a for a, info in pool.items() if info.name == name]
        if len(found) != 1:
            raise LookupError(
                f"{self.path}: checkov reported {checkov_resource!r}, which matches "
                f"{len(found)} entities"
            )
        return found[0]


def _entities(block: Any, prefix: str, env: str) -> dict[str, ResourceInfo]:
    """`resource` or `data` blocks by address (CDKTF's `//` comment keys skipped)."""
    found: dict[str, ResourceInfo] = {}
    for rtype, by_name in (block or {}).items():
        if rtype == "//" or not isinstance(by_name, dict):
            continue
        for name, body in by_name.items():
            if name != "//":
                address = f"{prefix}{rtype}.{name}"
                found[address] = ResourceInfo(address, rtype, name, construct_path(body, env))
    return found


def construct_path(body: Any, env: str) -> str:
    """`//`.metadata.path without the leading stack name: stable across environments."""
    if not isinstance(body, dict):
        return ""
    metadata = (body.get("//") or {}).get("metadata") or {}
    path = str(metadata.get("path") or "")
    return path.removeprefix(f"{env}/")


def stack_file(outdir: Path, env: str) -> Path:
    return outdir / "stacks" / env / STACK_FILE
