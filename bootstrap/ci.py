"""What the workflows ask the repository: which environments exist and how to log in.

    python -m bootstrap.ci matrix          -> ["dev","prod","staging"] (one per environments/*.yaml)
    python -m bootstrap.ci identity dev    -> key=value lines for $GITHUB_OUTPUT
                                              (project, provider, planner, deployer, smoke)

`matrix` needs only the standard library (it runs before any install); `identity` reads
the environment file and bootstrap/config.yaml, so the names the workflows authenticate
with are exactly the ones the bootstrap created.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bootstrap.settings import (
    CONFIG,
    ENVIRONMENTS,
    BootstrapConfigError,
    environment_names,
    load_config,
    load_environment,
)


def identity(env: str, environments: Path = ENVIRONMENTS, config: Path = CONFIG) -> dict[str, str]:
    from stacks.identities import SMOKE  # here: `matrix` runs on a bare Python

    target = load_environment(environments / f"{env}.yaml")
    settings = load_config(config)
    return {
        "project_id": target.project_id,
        "workload_identity_provider": target.provider_name(settings),
        "planner": target.account_email("planner"),
        "deployer": target.account_email("deployer"),
        "smoke": target.account_email(SMOKE),
        "state_bucket": target.state_bucket,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap.ci")
    parser.add_argument("--environments", type=Path, default=ENVIRONMENTS)
    parser.add_argument("--config", type=Path, default=CONFIG)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("matrix", help="JSON list of environment names")
    ident = sub.add_parser("identity", help="project, WIF provider and accounts of one env")
    ident.add_argument("env")
    args = parser.parse_args(argv)
    if args.command == "matrix":
        names = environment_names(args.environments)
        if not names:
            print(f"no environment files in {args.environments}", file=sys.stderr)
            return 2
        print(json.dumps(names, separators=(",", ":")))
        return 0
    try:
        values = identity(args.env, args.environments, args.config)
    except BootstrapConfigError as exc:
        print(f"bootstrap.ci: {exc}", file=sys.stderr)
        return 2
    for key, value in values.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
