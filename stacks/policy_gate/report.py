"""What the gate prints and writes: a table per environment, summary.json, checkov.sarif."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stacks.policy_gate.scanner import JSON_REPORT, LOG, SARIF_REPORT
from stacks.policy_gate.stackfile import StackFile
from stacks.policy_gate.verdict import Verdict

SUMMARY_JSON = "summary.json"
SARIF_FILE = "checkov.sarif"  # for code scanning: the findings that fail the gate
SARIF_ALL = "checkov-all.sarif"  # every finding, suppressed ones marked with their reason
HEADER = ("environment", "resources", "passed", "failed", "suppressed", "structure", "result")


def table(verdicts: list[Verdict]) -> str:
    rows = [HEADER] + [
        (
            v.env,
            str(v.resources),
            str(v.passed),
            str(len(v.failed)),
            str(len(v.suppressed)),
            "ok" if not v.structure else f"{len(v.structure)} errors",
            "PASS" if v.ok else "FAIL",
        )
        for v in verdicts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    numeric = {1, 2, 3, 4}
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def problems(verdicts: list[Verdict], stacks: dict[str, StackFile]) -> list[str]:
    """One line per failed check, structural error or suppression problem; a note for each
    suppression of a failed check whose environment rule leaves this environment out."""
    lines = []
    for v in verdicts:
        lines += [f"{v.env}: structure: {p}" for p in v.structure]
        for f in v.failed:
            path = stacks[v.env].info(f.address).path
            detail = f" ({'; '.join(f.details)})" if f.details else ""
            lines.append(f"{v.env}: {f.check_id} {f.address} [{path}]: {f.check_name}{detail}")
        lines += [f"{v.env}: note: {e.message(v.env)}" for e in v.excluded]
        lines += [f"{v.env}: {p}" for p in v.problems]
    return lines


def summary_document(verdicts: list[Verdict], version: str) -> dict[str, Any]:
    return {
        "checkov_version": version,
        "passed": all(v.ok for v in verdicts),
        "environments": {
            v.env: {
                "result": "PASS" if v.ok else "FAIL",
                "resources": v.resources,
                "passed": v.passed,
                "failed": [
                    {
                        "check": f.check_id,
                        "resource": f.address,
                        "name": f.check_name,
                        "details": list(f.details),
                    }
                    for f in v.failed
                ],
                "suppressed": [
                    {
                        "check": s.finding.check_id,
                        "resource": s.finding.address,
                        "suppression": s.suppression.index,
                        "reason": s.suppression.reason,
                    }
                    for s in v.suppressed
                ],
                "excluded_by_rule": [
                    {
                        "check": e.suppression.check,
                        "suppression": e.suppression.index,
                        "environments": str(e.suppression.environments),
                        "why": e.why,
                        "resources": [f.address for f in e.findings],
                    }
                    for e in v.excluded
                ],
                "structure": v.structure,
                "problems": v.problems,
            }
            for v in verdicts
        },
    }


def annotate_sarif(
    sarif: dict[str, Any], stacks: dict[str, StackFile], verdicts: dict[str, Verdict], cwd: Path
) -> dict[str, Any]:
    """Checkov's SARIF with each result's environment, and suppressed findings marked as
    suppressed with their reason (code scanning then shows them as dismissed)."""
    env_of = {Path(os.path.relpath(s.path, cwd)).as_posix(): env for env, s in stacks.items()}
    for run in sarif.get("runs", []):
        for result in run.get("results", []):
            location = result["locations"][0]["physicalLocation"]
            env = env_of.get(location["artifactLocation"]["uri"])
            if env is None:
                continue
            result.setdefault("properties", {})["environment"] = env
            line = location["region"]["startLine"]
            for suppressed in verdicts[env].suppressed:
                if (suppressed.finding.check_id, suppressed.finding.lines[0]) == (
                    result["ruleId"],
                    line,
                ):
                    result["suppressions"] = [
                        {
                            "kind": "external",
                            "status": "accepted",
                            "justification": suppressed.suppression.reason,
                        }
                    ]
    return sarif


def clear(reports_dir: Path) -> None:
    """Remove a previous run's reports, so a failed run never leaves stale ones to upload."""
    for name in (SUMMARY_JSON, SARIF_FILE, SARIF_ALL, SARIF_REPORT, JSON_REPORT, LOG):
        (reports_dir / name).unlink(missing_ok=True)


def write_reports(
    reports_dir: Path,
    stacks: dict[str, StackFile],
    verdicts: list[Verdict],
    version: str,
    cwd: Path,
) -> None:
    """summary.json and the two SARIF files.

    GitHub code scanning ignores SARIF's `suppressions` (an accepted finding would open an
    alert on every upload), so checkov.sarif, the file CI uploads, holds only unsuppressed
    findings: empty when the gate passes, which also closes alerts that were fixed.
    checkov-all.sarif keeps everything, suppressed findings marked with their reason.
    """
    raw = reports_dir / SARIF_REPORT
    if raw.exists():
        sarif = json.loads(raw.read_text(encoding="utf-8"))
        by_env = {v.env: v for v in verdicts}
        annotated = annotate_sarif(sarif, stacks, by_env, cwd)
        (reports_dir / SARIF_ALL).write_text(json.dumps(annotated, indent=1), encoding="utf-8")
        for run in annotated.get("runs", []):
            run["results"] = [r for r in run.get("results", []) if not r.get("suppressions")]
        (reports_dir / SARIF_FILE).write_text(json.dumps(annotated, indent=1), encoding="utf-8")
        raw.unlink()
    (reports_dir / SUMMARY_JSON).write_text(
        json.dumps(summary_document(verdicts, version), indent=1), encoding="utf-8"
    )
