"""policy/suppressions.yaml: the conscious exceptions, each with its reason.

```yaml
suppressions:
  - check: CKV_GCP_62
    resource: google_storage_bucket.handlers_sources_602D480E   # or a construct path
    environments: {deploy_handlers: true}   # a rule, see selectors.py; or `all`
    reason: why this is accepted
```

`resource` is a resource address or the construct path below the stack (`//`.metadata.path
without the environment, e.g. `handlers/webhook/public-invoker`); shell-style wildcards are
allowed in both. A suppression applies to the environments its rule selects only; a rule
that selects no environment file is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from stacks.policy_gate.selectors import (
    BOOTSTRAP_PREFIX,
    Facts,
    Selector,
    parse_selector,
    with_bootstrap,
)
from stacks.policy_gate.stackfile import ResourceInfo

CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
FIELDS = {"check", "resource", "environments", "reason"}
MIN_REASON = 20  # characters: "accepted" or "todo" is not a reason


class SuppressionError(ValueError):
    """The suppressions file is invalid; the message names every problem."""


@dataclass(frozen=True)
class Suppression:
    index: int  # 1-based position in the file, for messages
    check: str
    resource: str
    environments: Selector
    reason: str
    source: str = "policy/suppressions.yaml"  # the file, as messages name it

    @property
    def label(self) -> str:
        return f"suppression #{self.index} ({self.check} on {self.resource})"

    def covers(self, info: ResourceInfo) -> bool:
        return fnmatchcase(info.address, self.resource) or bool(
            info.path and fnmatchcase(info.path, self.resource)
        )

    @property
    def excerpt(self) -> str:
        """The start of the reason, to recognise the entry in the file."""
        return self.reason if len(self.reason) <= 60 else self.reason[:57].rstrip() + "..."

    def applies(self, facts: Facts | None, check_id: str, info: ResourceInfo) -> bool:
        return check_id == self.check and self.covers(info) and self.environments.matches(facts)


def _entry(
    index: int, raw: object, known: Mapping[str, Facts], source: str
) -> tuple[Suppression | None, list[str]]:
    where = f"suppression #{index}"
    if not isinstance(raw, dict):
        return None, [f"{where}: expected a mapping with {sorted(FIELDS)}"]
    errors = [f"{where}: unknown field {key!r}" for key in sorted(set(raw) - FIELDS)]
    check, resource = str(raw.get("check") or ""), str(raw.get("resource") or "")
    reason = " ".join(str(raw.get("reason") or "").split())
    if not CHECK_ID.match(check):
        errors.append(f"{where}: check {check!r} is not a checkov id (CKV_GCP_62, CKV_CIO_3)")
    if not resource:
        errors.append(f"{where}: resource is missing (an address or a construct path)")
    if len(reason) < MIN_REASON:
        errors.append(
            f"{where} ({check} on {resource or '?'}): a reason is required "
            f"(at least {MIN_REASON} characters saying why this is accepted)"
        )
    selector = Selector()
    try:
        selector = parse_selector(raw.get("environments"))
    except ValueError as exc:
        errors.append(f"{where} ({check} on {resource or '?'}): environments: {exc}")
    else:
        if known and not any(selector.matches(facts) for facts in known.values()):
            errors.append(
                f"{where} ({check} on {resource or '?'}): environments {selector} matches no "
                f"environment file (known: {', '.join(sorted(known))}); remove the entry or "
                "correct the rule"
            )
    if errors:
        return None, errors
    return Suppression(index, check, resource, selector, reason, source), []


def load_suppressions(
    path: Path, known: Mapping[str, Facts], shown: str | None = None
) -> list[Suppression]:
    """Parse and validate the file; raises SuppressionError listing every problem.

    `known`: the properties of every environment file, by name (see selectors.py);
    `shown`: how messages name the file (default: `path`)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SuppressionError(f"{path}: {exc}") from None
    entries = document.get("suppressions") if isinstance(document, dict) else None
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise SuppressionError(f"{path}: `suppressions` must be a list")
    # Every environment file also stands for its bootstrap stack (`{bootstrap: true}`).
    known = with_bootstrap({k: v for k, v in known.items() if not k.startswith(BOOTSTRAP_PREFIX)})
    found: list[Suppression] = []
    errors: list[str] = []
    for index, raw in enumerate(entries, start=1):
        suppression, problems = _entry(index, raw, known, shown or str(path))
        errors += problems
        if suppression is not None:
            found.append(suppression)
    if errors:
        raise SuppressionError(f"{path}:\n  - " + "\n  - ".join(errors))
    return found
