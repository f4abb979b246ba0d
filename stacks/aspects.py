"""Aspects run over every construct at synth time: one sets labels, one enforces rules.

Provider default labels do not appear in the synthesized JSON, so labels are set on each
resource here, where tests and policy checks can see them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stacks import cdk

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
REQUIRED_LABELS = ("environment", "component", "managed-by")


def label_attribute(node: Any) -> str | None:
    """The attribute through which a resource takes labels, if it takes any."""
    for attribute in ("labels", "user_labels"):
        if isinstance(getattr(type(node), attribute, None), property) and isinstance(
            getattr(type(node), f"{attribute}_input", None), property
        ):
            return attribute
    return None


@cdk.implements(cdk.IAspect)
class LabelAspect:
    """Adds the common labels to every labellable resource; resource labels win on conflict."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)

    def visit(self, node: cdk.IConstruct) -> None:
        attribute = label_attribute(node)
        if attribute is None:
            return
        current = getattr(node, f"{attribute}_input") or {}
        setattr(node, attribute, {**self.labels, **dict(current)})


@cdk.implements(cdk.IAspect)
class RulesAspect:
    """Collects rule violations; `stacks.app` fails the synth when there are any."""

    def __init__(self, public_invokers: set[str]) -> None:
        self.public_invokers = public_invokers
        self.violations: list[str] = []

    def _fail(self, node: Any, message: str) -> None:
        self.violations.append(f"{node.node.path}: {message}")

    def visit(self, node: cdk.IConstruct) -> None:
        if (
            isinstance(node, cdk.PubsubSubscription)
            and node.push_config_input is not None
            and node.dead_letter_policy_input is None
        ):
            self._fail(node, "push subscription without a dead-letter policy")
        role = (
            getattr(node, "role_input", None) if type(node).__name__.endswith("IamMember") else None
        )
        if role is not None:
            if role in PRIMITIVE_ROLES:
                self._fail(node, f"primitive role {role} (grant a predefined role instead)")
            member = getattr(node, "member_input", None)
            if member in PUBLIC_MEMBERS and node.node.path not in self.public_invokers:
                self._fail(node, f"{member} may be granted only to the public webhook handler")
        attribute = label_attribute(node)
        if attribute is not None:
            labels = getattr(node, f"{attribute}_input") or {}
            missing = [key for key in REQUIRED_LABELS if key not in labels]
            if missing:
                self._fail(node, f"missing labels {missing}")
