"""Command line of the policy gate (`python -m stacks.policy_gate --help`)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stacks.config import ConfigError
from stacks.policy_gate import report
from stacks.policy_gate.scanner import ScannerError, scan
from stacks.policy_gate.selectors import BOOTSTRAP_PREFIX, environment_facts, with_bootstrap
from stacks.policy_gate.stackfile import StackFile, stack_file
from stacks.policy_gate.structure import check_structure
from stacks.policy_gate.suppressions import SuppressionError, load_suppressions
from stacks.policy_gate.verdict import Verdict, judge

REPO = Path(__file__).resolve().parents[2]
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
PIN = re.compile(r"^checkov==(\S+)$", re.MULTILINE)
PROJECT_CHECK = re.compile(r"""id=["'](CKV_CIO_\d+)["']""")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.policy_gate",
        description="Structure, checkov and project checks over every synthesized stack.",
    )
    parser.add_argument(
        "--outdir",
        type=Path,
        default=REPO / "cdktf.out",
        help="the synth output folder (default cdktf.out)",
    )
    parser.add_argument(
        "--env",
        action="append",
        dest="envs",
        metavar="NAME",
        help="check only this environment (repeatable; default: every environments/*.yaml)",
    )
    parser.add_argument(
        "--environments",
        type=Path,
        default=REPO / "environments",
        help="the environment files suppression rules are matched against (default environments)",
    )
    parser.add_argument("--suppressions", type=Path, default=REPO / "policy/suppressions.yaml")
    parser.add_argument("--checks-dir", type=Path, default=REPO / "policy/checks")
    parser.add_argument("--reports", type=Path, default=REPO / "reports/policy")
    parser.add_argument("--checkov", type=Path, default=REPO / ".venv-checkov/bin/checkov")
    parser.add_argument(
        "--require-bootstrap",
        action="store_true",
        help="fail when an environment's bootstrap stack (OUTDIR/bootstrap/stacks/"
        "bootstrap-<env>, `python -m bootstrap.app`) is not synthesized (default: gate the "
        "bootstrap stacks that are; make platform and make policy require them)",
    )
    return parser.parse_args(argv)


def shown(path: Path) -> str:
    """A path as messages name it: relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def pinned_version() -> str | None:
    pins = REPO / "requirements/checkov.txt"
    match = PIN.search(pins.read_text(encoding="utf-8")) if pins.exists() else None
    return match.group(1) if match else None


def project_checks(checks_dir: Path) -> list[str]:
    found = {m for p in checks_dir.glob("*.py") for m in PROJECT_CHECK.findall(p.read_text())}
    return sorted(found, key=lambda c: int(c.rsplit("_", 1)[1]))


def stack_path(outdir: Path, name: str) -> Path:
    """An environment's stack, or a bootstrap stack (`bootstrap-<env>`, synthesized by
    `python -m bootstrap.app` into OUTDIR/bootstrap)."""
    if name.startswith(BOOTSTRAP_PREFIX):
        return stack_file(outdir / "bootstrap", name)
    return stack_file(outdir, name)


def default_stacks(outdir: Path, facts: dict[str, object], require_bootstrap: bool) -> list[str]:
    """Every environment, then every bootstrap stack (those synthesized, or all if required)."""
    envs = sorted(n for n in facts if not n.startswith(BOOTSTRAP_PREFIX))
    bootstrap = [BOOTSTRAP_PREFIX + e for e in envs]
    if not require_bootstrap:
        bootstrap = [b for b in bootstrap if stack_path(outdir, b).exists()]
    return envs + bootstrap


def load_stacks(outdir: Path, envs: list[str]) -> list[StackFile]:
    missing = [e for e in envs if not stack_path(outdir, e).exists()]
    if missing:
        out = "" if outdir == REPO / "cdktf.out" else f" --outdir {outdir}"
        commands = []
        if any(not e.startswith(BOOTSTRAP_PREFIX) for e in missing):
            commands.append(f"`cio-platform synth --all{out}`")
        if any(e.startswith(BOOTSTRAP_PREFIX) for e in missing):
            commands.append(f"`python -m bootstrap.app --out {outdir / 'bootstrap'}`")
        raise FileNotFoundError(
            f"not synthesized: {', '.join(str(stack_path(outdir, e)) for e in missing)}; "
            f"run {' and '.join(commands)} first"
        )
    return [StackFile.load(env, stack_path(outdir, env)) for env in envs]


def version_problems(verdicts: list[Verdict], version: str) -> None:
    """The gate runs only the pinned checkov: another version may check differently."""
    pin = pinned_version()
    if pin and version != pin:
        for verdict in verdicts:
            verdict.problems.append(f"checkov {version} ran, requirements/checkov.txt pins {pin}")


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    outdir = args.outdir.resolve()
    try:
        facts = with_bootstrap(environment_facts(args.environments))
        envs = args.envs or default_stacks(outdir, dict(facts), args.require_bootstrap)
        suppressions = load_suppressions(args.suppressions, facts, shown(args.suppressions))
        stacks = load_stacks(outdir, envs)
        structure = {s.env: check_structure(s) for s in stacks}
        report.clear(args.reports)
        cwd = REPO if outdir.is_relative_to(REPO) else outdir
        scans = scan(stacks, args.checkov, args.checks_dir, args.reports, cwd)
    except (ConfigError, SuppressionError, FileNotFoundError, ValueError, ScannerError) as exc:
        print(f"policy gate: cannot run: {exc}", file=sys.stderr)
        return EXIT_ERROR
    verdicts = [
        judge(s, scans[s.env], structure[s.env], suppressions, facts.get(s.env)) for s in stacks
    ]
    version = scans[stacks[0].env].version
    version_problems(verdicts, version)
    by_env = {s.env: s for s in stacks}
    report.write_reports(args.reports, by_env, verdicts, version, cwd)
    checks = project_checks(args.checks_dir)
    span = f" ({checks[0]}..{checks[-1]})" if checks else ""
    print(
        f"policy gate: checkov {version} (terraform_json) with {len(checks)} project checks"
        f"{span}, {len(suppressions)} suppressions"
        + ("; checkov's results reused (identical inputs)" if scans[stacks[0].env].cached else "")
    )
    print(report.table(verdicts))
    for line in report.problems(verdicts, by_env):
        print(f"  {line}")
    passed = all(v.ok for v in verdicts)
    print(
        f"policy gate {'passed' if passed else 'FAILED'} in {time.monotonic() - started:.1f}s; "
        f"reports in {args.reports}"
    )
    return EXIT_OK if passed else EXIT_FAILED
