"""Run the policy gate as a process (the way make and CI run it) and read its reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import REPO

GATE_TIMEOUT = 240


@dataclass(frozen=True)
class GateRun:
    returncode: int
    stdout: str
    stderr: str
    reports: Path
    outdir: Path

    def line(self, env: str) -> str:
        """The summary table's line for one environment."""
        found = [row for row in self.stdout.splitlines() if row.split()[:1] == [env]]
        assert found, f"no summary line for {env}:\n{self.stdout}\n{self.stderr}"
        return found[0]

    @cached_property
    def checkov_results(self) -> dict[tuple[str, str, str], str]:
        """(environment, check id, resource address) -> PASSED | FAILED, from checkov's JSON."""
        data = json.loads((self.reports / "results_json.json").read_text(encoding="utf-8"))
        part = data[0] if isinstance(data, list) else data
        found: dict[tuple[str, str, str], str] = {}
        for outcome in ("passed_checks", "failed_checks"):
            for record in part["results"].get(outcome, []):
                env = Path(record["file_path"]).parent.name
                # bootstrap-<env> stacks are synthesized into OUTDIR/bootstrap
                base = self.outdir / "bootstrap" if env.startswith("bootstrap-") else self.outdir
                stack_file = base / "stacks" / env / "cdk.tf.json"
                stack = json.loads(stack_file.read_text(encoding="utf-8"))
                kind, _, name = record["resource"].partition(".")
                block = stack["data" if kind == "data" else "resource"]
                rtype = next(t for t, items in block.items() if name in items)
                address = f"{'data.' if kind == 'data' else ''}{rtype}.{name}"
                found[(env, record["check_id"], address)] = record["check_result"]["result"]
        return found


def run_gate(outdir: Path, reports: Path, *args: str, env: dict[str, str] | None = None) -> GateRun:
    done = subprocess.run(
        [sys.executable, "-m", "stacks.policy_gate", "--outdir", str(outdir),
         "--reports", str(reports), *args],
        cwd=REPO, capture_output=True, text=True, timeout=GATE_TIMEOUT, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return GateRun(done.returncode, done.stdout, done.stderr, reports, outdir)


def synthesize_bootstrap(out: Path) -> None:
    """`python -m bootstrap.app --out OUT` (OUT/stacks/bootstrap-<env>), once per folder."""
    if not (out / "stacks").is_dir():
        subprocess.run(
            [sys.executable, "-m", "bootstrap.app", "--out", str(out)],
            cwd=REPO, check=True, capture_output=True, text=True, timeout=GATE_TIMEOUT,
        )  # fmt: skip


def write_suppressions(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"suppressions": entries}), encoding="utf-8")
    return path
