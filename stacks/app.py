"""Build the CDKTF app for a set of environments and synthesize it.

`cdktf synth` runs this module (cdktf.json: `app`); so does `cio-platform synth`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from stacks import cdk, provider_lock, readiness
from stacks.config import Environment, load_environments
from stacks.manifests import DEFAULT_FUNCTIONS, discover
from stacks.platform import PlatformStack, SourceTree

REPO = Path(__file__).resolve().parent.parent
__all__ = ["PolicyViolation", "load_environments", "synth"]
DEFAULT_OUTDIR = REPO / "cdktf.out"


class PolicyViolation(Exception):
    """A synth-time rule failed; the message lists every violation."""


def default_tree() -> SourceTree:
    return SourceTree(DEFAULT_FUNCTIONS, REPO / "analytics", REPO / "build" / "handlers")


def synth(
    environments: Sequence[Environment],
    outdir: Path = DEFAULT_OUTDIR,
    tree: SourceTree | None = None,
    extend: Callable[[PlatformStack], None] | None = None,
) -> dict[str, Path]:
    """Synthesize one stack per environment; returns env name -> its cdk.tf.json.

    `extend` may add constructs to each stack before synthesis (tests use it to add a
    resource that breaks a rule).
    """
    tree = tree or default_tree()
    manifests = discover(tree.functions_dir)
    readiness.check(environments, manifests)
    app = cdk.App(outdir=str(outdir), skip_validation=False)
    stacks = [PlatformStack(app, env, manifests, tree) for env in environments]
    for stack in stacks:
        if extend is not None:
            extend(stack)
    app.synth()
    violations = [v for stack in stacks for v in stack.rules.violations]
    if violations:
        for stack in stacks:
            shutil.rmtree(outdir / "stacks" / stack.env.name, ignore_errors=True)
        raise PolicyViolation("synth-time rules failed:\n  - " + "\n  - ".join(violations))
    outputs = {env.name: outdir / "stacks" / env.name / "cdk.tf.json" for env in environments}
    for stack_json in outputs.values():
        provider_lock.write_beside(stack_json)
    return outputs


def main() -> None:
    """Entry point for the cdktf CLI (which sets CDKTF_OUTDIR)."""
    import os

    outdir = Path(os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR))
    synth(load_environments(), outdir)


if __name__ == "__main__":
    main()
