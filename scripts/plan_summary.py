"""Turn `terraform show -json <planfile>` into the plan comment a reviewer reads.

Input is Terraform's documented machine-readable plan (format_version 1.x): the
`resource_changes` list (each with `address`, `mode`, `type` and `change.actions`), the
`output_changes`, and the `resource_drift` list (changes made outside Terraform, found while
refreshing) filtered by `relevant_attributes` (scripts/plan_drift.py). Output is counts to
add, change and destroy, the outputs to change, every destroy called out by address, the
drift, the policy gate's result and a fingerprint of the planned changes
(scripts/plan_fingerprint.py).

Only addresses and actions leave this script, never attribute values: a plan can hold
sensitive values, and the comment is public to everyone who can read the pull request.

The fingerprint lets a deploy job prove that the plan it is about to apply is the plan a
reviewer approved, without moving the plan file between jobs (plan files are never
uploaded as artifacts).

Standard library only, so it runs anywhere: `python scripts/plan_summary.py plan.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python scripts/plan_summary.py`: import as `scripts.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.plan_drift import relevant_drift
from scripts.plan_fingerprint import fingerprint, planned_outputs

COMMENT_MARKER = "<!-- cio-plan:{env} -->"
POLICY_TEXT = {
    "success": "passed",
    "failure": "FAILED",
    "skipped": "not run",
    "cancelled": "cancelled",
}
# A change whose actions are exactly one of these adds/changes/destroys nothing.
QUIET_ACTIONS = ({"no-op"}, {"read"})


class PlanFormatError(ValueError):
    """The input is not a Terraform JSON plan this script understands."""


@dataclass(frozen=True)
class Change:
    address: str
    action: str  # create | update | delete | replace | forget


@dataclass
class PlanSummary:
    env: str
    add: int = 0
    change: int = 0
    destroy: int = 0
    forget: int = 0
    imports: int = 0
    changes: list[Change] = field(default_factory=list)
    outputs: list[Change] = field(default_factory=list)
    drift: list[Change] = field(default_factory=list)
    drift_ignored: int = 0  # refreshed differences outside relevant_attributes
    policy: str = "skipped"
    policy_detail: str = ""
    policy_failures: list[str] = field(default_factory=list)
    fingerprint: str = ""
    terraform_version: str = ""

    @property
    def destroys(self) -> list[Change]:
        return [c for c in self.changes if c.action in {"delete", "replace"}]

    @property
    def has_changes(self) -> bool:
        counts = (self.add, self.change, self.destroy, self.forget, self.imports)
        return bool(any(counts) or self.outputs)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["has_changes"] = self.has_changes
        data["has_drift"] = bool(self.drift)
        data["destroys"] = [c.address for c in self.destroys]
        return data


def _action_name(actions: Sequence[str]) -> str | None:
    """Terraform's action list as one word; None for no-op and read."""
    kinds = set(actions)
    if kinds in QUIET_ACTIONS or not kinds:
        return None
    if kinds == {"create", "delete"}:
        return "replace"
    if len(kinds) == 1:
        (only,) = kinds
        if only in {"create", "update", "delete", "forget"}:
            return only
    raise PlanFormatError(f"unknown action combination {list(actions)!r}")


def _managed_changes(entries: Iterable[Mapping[str, Any]], section: str) -> list[Change]:
    changes = []
    for entry in entries:
        if entry.get("mode", "managed") != "managed":
            continue  # data sources are read, never changed
        try:
            address = str(entry["address"])
            actions = entry["change"]["actions"]
        except (KeyError, TypeError) as exc:
            raise PlanFormatError(f"{section}: entry without address/change.actions") from exc
        action = _action_name(actions)
        if action is not None:
            changes.append(Change(address, action))
    return changes


def _count_imports(entries: Iterable[Mapping[str, Any]]) -> int:
    return sum(
        1 for e in entries if isinstance(e.get("change"), dict) and e["change"].get("importing")
    )


def summarize(plan: Mapping[str, Any], env: str, policy: str = "skipped") -> PlanSummary:
    """Count a plan the way `terraform plan` does: a replace is one add and one destroy."""
    if not isinstance(plan, Mapping) or "format_version" not in plan:
        raise PlanFormatError(
            "not a Terraform JSON plan (no format_version): use terraform show -json"
        )
    major = str(plan["format_version"]).split(".", 1)[0]
    if major != "1":
        raise PlanFormatError(f"unsupported plan format_version {plan['format_version']!r}")
    entries = plan.get("resource_changes") or []
    drifted, ignored = relevant_drift(plan)
    outputs = [
        Change(f"output.{name}", _action_name(change.get("actions") or []) or "update")
        for name, change in planned_outputs(plan).items()
    ]
    summary = PlanSummary(
        env=env,
        changes=_managed_changes(entries, "resource_changes"),
        outputs=outputs,
        drift=_managed_changes(drifted, "resource_drift"),
        drift_ignored=ignored,
        policy=policy,
        fingerprint=fingerprint(plan),
        terraform_version=str(plan.get("terraform_version", "")),
        imports=_count_imports(entries),
    )
    for item in summary.changes:
        summary.add += item.action in {"create", "replace"}
        summary.change += item.action == "update"
        summary.destroy += item.action in {"delete", "replace"}
        summary.forget += item.action == "forget"
    return summary


def apply_policy_report(summary: PlanSummary, report: Mapping[str, Any]) -> None:
    """Use the policy gate's own verdict for this environment (reports/policy/summary.json)."""
    verdict = (report.get("environments") or {}).get(summary.env)
    if not isinstance(verdict, Mapping):
        return
    summary.policy = "success" if verdict.get("result") == "PASS" else "failure"
    failed = verdict.get("failed") or []
    summary.policy_detail = (
        f"{verdict.get('passed', 0)} checks passed, {len(failed)} failed, "
        f"{len(verdict.get('suppressed') or [])} suppressed"
    )
    summary.policy_failures = [f"{f.get('check')} on `{f.get('resource')}`" for f in failed]
    summary.policy_failures += [f"structure: {p}" for p in verdict.get("structure") or []]
    summary.policy_failures += [f"problem: {p}" for p in verdict.get("problems") or []]


def render_markdown(summary: PlanSummary, run_url: str = "") -> str:
    """The sticky pull-request comment (also written to the job summary)."""
    counts = f"{summary.add} to add, {summary.change} to change, {summary.destroy} to destroy"
    extra = [
        f"{n} {what}"
        for n, what in (
            (summary.imports, "to import"),
            (summary.forget, "to forget"),
            (len(summary.outputs), "output(s) to change"),
        )
        if n
    ]
    if extra:
        counts += ", " + ", ".join(extra)
    policy = POLICY_TEXT.get(summary.policy, summary.policy)
    policy_icon = {"passed": "✅", "FAILED": "❌"}.get(policy, "⚪")
    lines = [
        COMMENT_MARKER.format(env=summary.env),
        f"### Terraform plan for `{summary.env}`: {counts}",
        "",
        f"- Policy gate (`make policy`): {policy_icon} {policy}"
        + (f" ({summary.policy_detail})" if summary.policy_detail else ""),
        f"- Plan fingerprint: `{summary.fingerprint[:16]}`",
    ]
    lines += [f"  - {failure}" for failure in summary.policy_failures]
    if summary.destroys:
        lines += ["", f"> [!CAUTION]\n> **{len(summary.destroys)} resource(s) will be destroyed:**"]
        lines += [f"> - `{c.address}` ({c.action})" for c in summary.destroys]
    if summary.drift:
        lines += ["", f"**Drift:** {len(summary.drift)} resource(s) changed outside Terraform:"]
        lines += [f"- `{c.address}` ({c.action})" for c in summary.drift]
    if summary.drift_ignored:
        lines += [
            "",
            f"_{summary.drift_ignored} resource(s) refreshed with new computed values only "
            "(outside `relevant_attributes`): not drift._",
        ]
    if summary.changes or summary.outputs:
        lines += ["", "<details><summary>All planned changes</summary>", ""]
        lines += ["| action | address |", "| --- | --- |"]
        lines += [f"| {c.action} | `{c.address}` |" for c in summary.changes + summary.outputs]
        lines += ["", "</details>"]
    elif not summary.drift:
        lines += ["", "No changes: the infrastructure matches the configuration."]
    if run_url:
        lines += [
            "",
            f"[Workflow run]({run_url}); the full plan text stays off the public log "
            "(`make plan ENV=" + summary.env + "` shows it locally).",
        ]
    return "\n".join(lines) + "\n"


def load_plan(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFormatError(f"{path}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise PlanFormatError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise PlanFormatError(f"{path}: expected a JSON object")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plan_json", type=Path, help="output of `terraform show -json <planfile>`")
    parser.add_argument("--env", required=True, help="environment name (the comment's key)")
    parser.add_argument(
        "--policy", default="skipped", help="outcome of the policy gate: success|failure|skipped"
    )
    parser.add_argument(
        "--policy-report",
        type=Path,
        help="the policy gate's reports/policy/summary.json: this environment's verdict wins",
    )
    parser.add_argument("--markdown", type=Path, help="write the comment here (default: stdout)")
    parser.add_argument("--json", type=Path, dest="json_out", help="write counts as JSON here")
    parser.add_argument("--run-url", default="", help="link to the workflow run")
    args = parser.parse_args(argv)
    try:
        summary = summarize(load_plan(args.plan_json), args.env, args.policy)
        if args.policy_report and args.policy_report.is_file():
            apply_policy_report(summary, load_plan(args.policy_report))
    except PlanFormatError as exc:
        print(f"plan_summary: {exc}", file=sys.stderr)
        return 2
    text = render_markdown(summary, args.run_url)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if args.json_out:
        args.json_out.write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
