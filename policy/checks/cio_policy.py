"""Shared base of the project's checkov checks (loaded with `--external-checks-dir`).

Checkov hands a terraform_json check an HCL-shaped copy of one resource (every value wrapped
in a list) and nothing else. Several project rules need the whole stack (is this function the
one with a public invoker grant? does the environment use a KMS key?), so the checks read the
synthesized document itself: checkov names the scanned file relative to its working directory
when it runs with `-f <file>`, which is how `python -m stacks.policy_gate` runs it. A check
therefore sees plain Terraform JSON, exactly as `cdk.tf.json` holds it.

This file runs inside .venv-checkov only; the main virtual environment never imports it.
"""

from __future__ import annotations

import json
import os
import re
from abc import abstractmethod
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
INVOKER_ROLES = frozenset({"roles/run.invoker", "roles/cloudfunctions.invoker"})
# IAM resource types: a `member`, `members` or `policy_data` grants roles (checkov wildcards).
IAM_GRANTS = ("google_*_iam_member", "google_*_iam_binding", "google_*_iam_policy")
REFERENCE = re.compile(r"^\$\{((?:data\.)?[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_.]+\}$")


class StackDocument:
    """One synthesized stack: its resources by type and name, plus cross-resource facts."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.resources: dict[str, dict[str, dict[str, Any]]] = data.get("resource", {})
        self.data_sources: dict[str, dict[str, dict[str, Any]]] = data.get("data", {})

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        try:
            return self.resources[rtype][name]
        except KeyError:
            raise LookupError(f"{self.path}: no resource {rtype}.{name}") from None

    def items(self, rtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.resources.get(rtype, {}).items()

    def uses_kms(self) -> bool:
        """True when any resource names a Cloud KMS key (the environment uses CMEK)."""
        return any(
            bool(key)
            for by_name in self.resources.values()
            for resource in by_name.values()
            for key in find_values(resource, "kms_key_name")
        )

    def grants(self, resource: dict[str, Any]) -> list[tuple[str, set[str]]]:
        """(role, members) pairs an IAM member, binding or policy resource grants.

        An `_iam_policy` takes `policy_data`: literal JSON, or a reference to a
        `google_iam_policy` data source of the stack, whose bindings are read instead.
        """
        if "policy_data" not in resource:
            return [(str(resource.get("role", "")), members(resource))]
        policy = resource["policy_data"]
        source = referenced(policy) or ""
        if source.startswith("data."):
            _, rtype, name = source.split(".", 2)
            bindings = self.data_sources.get(rtype, {}).get(name, {}).get("binding") or []
        else:
            try:
                bindings = json.loads(policy).get("bindings") or []
            except (TypeError, ValueError, AttributeError):
                bindings = []
        if isinstance(bindings, dict):
            bindings = [bindings]
        return [(str(b.get("role", "")), members(b)) for b in bindings if isinstance(b, dict)]

    def publicly_invokable(self, rtype: str, name: str, resource: dict[str, Any]) -> bool:
        """Whether an allUsers/allAuthenticatedUsers invoker grant targets this service.

        A grant targets it when its `name` (Cloud Run) or `cloud_function` (Cloud Functions)
        is a reference to the resource or its literal name.
        """
        targets = {f"{rtype}.{name}", str(resource.get("name", ""))}
        for grant_type, by_name in self.resources.items():
            if not grant_type.endswith(("_iam_member", "_iam_binding", "_iam_policy")):
                continue
            for grant in by_name.values():
                public = any(
                    role in INVOKER_ROLES and PUBLIC_MEMBERS & principals
                    for role, principals in self.grants(grant)
                )
                if public and any(
                    referenced(grant.get(field)) in targets
                    for field in ("name", "service", "cloud_function")
                ):
                    return True
        return False


def referenced(value: Any) -> str | None:
    """`type.name` of a `${type.name.attr}` reference, the literal string otherwise."""
    if not isinstance(value, str):
        return None
    match = REFERENCE.match(value)
    return f"{match.group(1)}.{match.group(2)}" if match else value


def members(grant: dict[str, Any]) -> set[str]:
    found = set(grant.get("members") or [])
    if grant.get("member"):
        found.add(grant["member"])
    return {str(m) for m in found}


def find_values(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under `key` anywhere in a nested JSON value."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from find_values(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from find_values(item, key)


def block(resource: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested block as a dict (Terraform JSON allows an object or a one-item list)."""
    value = resource.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> StackDocument:
    with open(path, encoding="utf-8") as handle:
        return StackDocument(Path(path), json.load(handle))


def stack_of(scanned_file: str) -> StackDocument:
    """The document checkov is scanning (`/relative/path`, relative to checkov's cwd)."""
    path = os.path.join(os.getcwd(), scanned_file.lstrip("/"))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"cannot open the scanned stack {path!r}: run checkov with -f <file> from the "
            "folder the path is relative to (python -m stacks.policy_gate does)"
        )
    return _load(path, os.stat(path).st_mtime_ns)


class StackResourceCheck(BaseResourceCheck):
    """A resource check that evaluates the plain resource with its whole stack at hand."""

    def __init__(
        self,
        name: str,
        id: str,
        supported_resources: tuple[str, ...],
        categories: tuple[CheckCategories, ...] = (CheckCategories.GENERAL_SECURITY,),
    ) -> None:
        super().__init__(
            name=name, id=id, categories=categories, supported_resources=supported_resources
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        scanned_file, rtype, name = self.entity_path.rsplit(":", 2)
        stack = stack_of(scanned_file)
        return self.evaluate(stack, rtype, name, stack.resource(rtype, name))

    @abstractmethod
    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        """PASSED, FAILED, or UNKNOWN when the rule does not apply to this resource."""

    def fail(self, detail: str) -> CheckResult:
        """FAILED, with a detail line checkov puts in the report."""
        self.details.append(detail)
        return CheckResult.FAILED
