"""`make plan ENV=<env>`: terraform plan of one synthesized environment, explained.

Before running anything it checks what a plan needs and says, in one message, everything
that is missing: the environment file, the synthesized stack (`make synth`), the Terraform
binary, Google Cloud credentials and the network. Then, in `cdktf.out/stacks/<env>`:
`terraform init`, `terraform plan -out` and `terraform show -json`; `scripts/plan_summary.py`
turns that into the counts to add, change and destroy, the destroys, drift and a
fingerprint. Everything lands in `reports/plan/<env>/` (git-ignored; the plan file, its JSON
and its text can hold values and are written for the owner only, never uploaded; in GitHub
Actions the plan text is not printed, the log being public to everyone who reads the
repository).

A plan alone runs with `-lock=false`: it writes no state, so it takes no lock, needs only
read access to the state bucket, and a cancelled plan can never leave the state locked.
`--apply FINGERPRINT` (the deployer) plans with the lock and applies that saved plan only if
its fingerprint equals the one the reviewer saw, with a lock timeout on both: the deploy
workflow's gate, with no plan file moved between jobs. Terraform runs through
`stacks.terraform_run`, which passes SIGINT/SIGTERM on to it and waits for it to stop.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stacks.terraform_run import Interrupted, run

SUMMARY_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "plan_summary.py"
DEFAULT_PROBES = ("storage.googleapis.com:443", "registry.terraform.io:443")
PROBE_ENV = "CIO_PLAN_NETWORK_PROBES"  # comma-separated host:port, for tests and proxies
EXIT_MISSING = 3
EXIT_FINGERPRINT = 4
EXIT_USAGE = 2
LOCK_TIMEOUT = "-lock-timeout=10m"  # a running apply of the same state may hold the lock


@dataclass(frozen=True)
class Paths:
    root: Path
    env: str

    @property
    def env_file(self) -> Path:
        return self.root / "environments" / f"{self.env}.yaml"

    @property
    def stack_dir(self) -> Path:
        return self.root / "cdktf.out" / "stacks" / self.env

    @property
    def stack_json(self) -> Path:
        return self.stack_dir / "cdk.tf.json"

    @property
    def out_dir(self) -> Path:
        return self.root / "reports" / "plan" / self.env


class Missing(Exception):
    """Prerequisites of a plan are missing; the message lists each one and its fix."""


def terraform_binary(environ: Mapping[str, str]) -> str | None:
    explicit = environ.get("TERRAFORM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("terraform", path=environ.get("PATH", os.defpath))


def credential_source(environ: Mapping[str, str], home: Path) -> tuple[str | None, str | None]:
    """(where credentials come from, or None; a problem with a configured source, or None).

    Looks only at variables and files, in the order the Google provider uses them; never at
    the network, so a machine without credentials learns it at once.
    """
    for var in ("GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_CREDENTIALS"):
        if environ.get(var):
            return var, None
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"):
        value = environ.get(var)
        if value:
            found = Path(value).is_file()
            return (
                (var, None) if found else (None, f"{var} points to {value}, which does not exist")
            )
    config = Path(environ.get("CLOUDSDK_CONFIG") or home / ".config" / "gcloud")
    candidates = [
        (config / "application_default_credentials.json", "gcloud application-default login"),
        (Path("/sys/class/dmi/id/product_name"), "the Compute Engine metadata server"),
    ]
    for path, source in candidates:
        if path.is_file() and (
            path.suffix == ".json" or "Google" in path.read_text(errors="replace")
        ):
            return source, None
    return None, None


def unreachable(probes: Sequence[str], timeout: float = 3.0) -> list[str]:
    """host:port entries that refuse, time out or do not resolve."""
    failed = []
    for probe in probes:
        host, _, port = probe.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                pass
        except (OSError, ValueError) as exc:
            failed.append(f"{probe} ({exc.__class__.__name__}: {exc})")
    return failed


def network_probes(environ: Mapping[str, str]) -> list[str]:
    """What must answer: $CIO_PLAN_NETWORK_PROBES, else the HTTPS proxy, else Google/registry."""
    explicit = environ.get(PROBE_ENV)
    if explicit:
        return [p for p in explicit.split(",") if p]
    proxy = environ.get("HTTPS_PROXY") or environ.get("https_proxy")
    if proxy:
        parsed = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parsed.hostname:
            return [f"{parsed.hostname}:{parsed.port or 443}"]
    return list(DEFAULT_PROBES)


def environment_problem(root: Path, name: str) -> str | None:
    """None when environments/<name>.yaml exists, else what is wrong and the known names."""
    env_file = Paths(root, name).env_file
    if env_file.is_file():
        return None
    known = sorted(p.stem for p in (root / "environments").glob("*.yaml"))
    return (
        f"environment file {env_file.relative_to(root)} not found "
        f"(known environments: {', '.join(known) or 'none'})"
    )


def tool_problems(environ: Mapping[str, str], earlier: Sequence[str] = ()) -> list[str]:
    """Terraform, Google credentials and, once nothing else is missing, the network."""
    problems: list[str] = []
    if terraform_binary(environ) is None:
        problems.append(
            "Terraform binary not found on PATH (or at $TERRAFORM): install Terraform >= 1.5 "
            "(CI: hashicorp/setup-terraform)"
        )
    source, problem = credential_source(environ, Path(environ.get("HOME", Path.home())))
    if source is None:
        problems.append(
            "Google Cloud credentials not found"
            + (f" ({problem})" if problem else "")
            + ": locally `gcloud auth application-default login`; in CI "
            "google-github-actions/auth with Workload Identity Federation"
        )
    if not earlier and not problems:
        down = unreachable(network_probes(environ))
        if down:
            problems.append(
                "network: cannot reach " + "; ".join(down) + " (the state bucket and the "
                "Terraform provider registry must be reachable; check proxy/firewall)"
            )
    return problems


def check_prerequisites(paths: Paths, environ: Mapping[str, str]) -> str:
    """Return the terraform binary, or raise Missing listing everything missing."""
    problems: list[str] = []
    missing_env = environment_problem(paths.root, paths.env)
    if missing_env:
        problems.append(missing_env)
    elif not paths.stack_json.is_file():
        problems.append(
            f"synthesized output {paths.stack_json.relative_to(paths.root)} not found: "
            "run `make synth` first"
        )
    problems += tool_problems(environ, problems)
    terraform = terraform_binary(environ)
    if problems:
        raise Missing(
            f"cannot plan environment {paths.env!r}; missing:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    assert terraform is not None
    return terraform


def _terraform(terraform: str, paths: Paths, *args: str, stdout: int | None = None) -> int:
    argv = [terraform, f"-chdir={paths.stack_dir}", *args]
    print("+ terraform " + " ".join(args), flush=True)
    return run(argv, stdout=stdout)


def _private_file(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


def plan_args(plan_file: Path, *, lock: bool) -> tuple[str, ...]:
    """`terraform plan` arguments: with the lock (and a timeout) only for an apply."""
    locking = LOCK_TIMEOUT if lock else "-lock=false"
    return ("plan", "-input=false", "-no-color", locking, f"-out={plan_file}")


def run_plan(
    paths: Paths,
    terraform: str,
    policy: str,
    run_url: str,
    *,
    lock: bool = False,
    show_text: bool = True,
) -> dict[str, object]:
    """init, plan -out, show -json, summarize. Returns the summary; raises on failure."""
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    paths.out_dir.chmod(0o700)  # the plan, its JSON and its text can hold sensitive values
    plan_file = paths.out_dir / "plan.tfplan"
    plan_json = paths.out_dir / "plan.json"
    plan_text = paths.out_dir / "plan.txt"
    # -lockfile=readonly: the provider checksums are the reviewed ones (stacks/provider_lock.py)
    init = ("init", "-input=false", "-no-color", "-lockfile=readonly")
    if _terraform(terraform, paths, *init) != 0:
        raise RuntimeError(f"terraform init failed for {paths.env!r} (output above)")
    with os.fdopen(_private_file(plan_text), "w") as text:
        status = _terraform(
            terraform, paths, *plan_args(plan_file, lock=lock), stdout=text.fileno()
        )
    if show_text:
        print(plan_text.read_text(encoding="utf-8"), flush=True)
    else:
        print(f"plan text kept in {plan_text} (not printed: the log is public)", flush=True)
    if status != 0:
        raise RuntimeError(f"terraform plan failed for {paths.env!r} (errors above)")
    fd = _private_file(plan_json)
    with os.fdopen(fd, "w") as out:
        if _terraform(terraform, paths, "show", "-json", str(plan_file), stdout=out.fileno()) != 0:
            raise RuntimeError(f"terraform show -json failed for {paths.env!r}")
    summary_json = paths.out_dir / "summary.json"
    argv = [sys.executable, str(SUMMARY_SCRIPT), str(plan_json), "--env", paths.env]
    argv += ["--policy", policy, "--run-url", run_url, "--json", str(summary_json)]
    argv += ["--markdown", str(paths.out_dir / "summary.md")]
    policy_report = paths.root / "reports" / "policy" / "summary.json"
    if policy_report.is_file():  # the gate's verdict for this environment, when it ran
        argv += ["--policy-report", str(policy_report)]
    result = subprocess.run(argv, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"could not summarize the plan of {paths.env!r}")
    print((paths.out_dir / "summary.md").read_text(encoding="utf-8"))
    data: dict[str, object] = json.loads(summary_json.read_text(encoding="utf-8"))
    return data


def apply_saved(paths: Paths, terraform: str, expected: str, summary: Mapping[str, object]) -> int:
    if summary.get("fingerprint") != expected:
        print(
            f"refusing to apply {paths.env!r}: the plan changed since it was reviewed "
            f"(fingerprint {str(summary.get('fingerprint'))[:16]} != {expected[:16]}); "
            'use "Re-run all jobs" on the workflow run to plan again and review the new plan '
            '("Re-run failed jobs" reuses the old reviewed fingerprint and is refused again)',
            file=sys.stderr,
        )
        return EXIT_FINGERPRINT
    plan_file = paths.out_dir / "plan.tfplan"
    return _terraform(
        terraform, paths, "apply", "-input=false", "-no-color", LOCK_TIMEOUT, str(plan_file)
    )


def plan(
    env: str,
    root: Path | None = None,
    *,
    policy: str = "skipped",
    apply_fingerprint: str | None = None,
    run_url: str = "",
    environ: Mapping[str, str] | None = None,
) -> int:
    """Plan (and with `apply_fingerprint`, apply) one environment; returns an exit code."""
    paths = Paths(root or Path.cwd(), env)
    env_vars = os.environ if environ is None else environ
    applying = apply_fingerprint is not None
    try:
        terraform = check_prerequisites(paths, env_vars)
        summary = run_plan(
            paths,
            terraform,
            policy,
            run_url,
            lock=applying,
            show_text=env_vars.get("GITHUB_ACTIONS") != "true",
        )
        if apply_fingerprint is not None:
            return apply_saved(paths, terraform, apply_fingerprint, summary)
    except Missing as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_MISSING
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(
            f"stopped: terraform exited (code {exc.returncode}) after {exc}; "
            "the state lock, if it held one, was released by terraform",
            file=sys.stderr,
        )
        return exc.exit_code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cio-platform plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment name (environments/<env>.yaml)")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: cwd)")
    parser.add_argument(
        "--policy",
        default=os.environ.get("CIO_POLICY_OUTCOME", "skipped"),
        help="policy gate outcome for the summary (default: $CIO_POLICY_OUTCOME)",
    )
    parser.add_argument(
        "--run-url",
        default=os.environ.get("CIO_RUN_URL", ""),
        help="link to the CI run, for the summary (default: $CIO_RUN_URL)",
    )
    parser.add_argument(
        "--apply",
        metavar="FINGERPRINT",
        default=None,
        help="apply the new saved plan if its fingerprint equals FINGERPRINT (the reviewed plan)",
    )
    args = parser.parse_args(argv)
    if args.apply is not None and len(args.apply) != 64:
        parser.error("--apply needs the full 64-character plan fingerprint")
    return plan(
        args.env, args.root, policy=args.policy, apply_fingerprint=args.apply, run_url=args.run_url
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
