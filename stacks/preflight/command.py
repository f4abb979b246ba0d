"""`cio-platform preflight ENV`: load the inputs, run the checks, print, return the exit code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from stacks.preflight.clients import ENDPOINTS_ENV, Clients, EndpointError, parse_endpoints
from stacks.preflight.results import EXIT_CANNOT_CHECK


def _cannot_start(env: str, message: str, as_json: bool) -> int:
    """Exit 2 before any check ran (bad input, no credentials), in the chosen format."""
    if as_json:
        data = {"env": env, "status": "could_not_check", "exit_code": EXIT_CANNOT_CHECK}
        print(json.dumps({**data, "error": message, "checks": []}, indent=2))
    print(f"preflight {env}: could not check: {message}", file=sys.stderr)
    return EXIT_CANNOT_CHECK


def preflight(
    env: str,
    *,
    env_dir: Path | None = None,
    endpoints: str | None = None,
    as_json: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    from stacks.config import ConfigError, load_environments
    from stacks.preflight.runner import NoCredentials, run
    from stacks.preflight.target import TargetError, load_target

    environ = os.environ if environ is None else environ
    try:
        overrides = parse_endpoints(endpoints or environ.get(ENDPOINTS_ENV, ""))
        (environment,) = load_environments([env], env_dir)
        target = load_target(environment, env_dir)
        report = run(target, Clients(overrides), environ)
    except (ConfigError, EndpointError, TargetError, NoCredentials) as exc:
        return _cannot_start(env, str(exc), as_json)
    print(report.to_json() if as_json else report.text())
    return report.exit_code
