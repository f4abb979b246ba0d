"""Run every check family against one environment and build the report.

The project check runs first: it finds the project number the service agents and the
Workload Identity pool are named by. The other families are independent and run in
parallel; a family that raises is reported as "could not check", never as a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from stacks.preflight.checks import (
    apis,
    channels,
    cmek,
    org_policy,
    project,
    secrets,
    state,
    workload_identity,
)
from stacks.preflight.clients import Clients
from stacks.preflight.report import Report
from stacks.preflight.results import Result, unchecked
from stacks.preflight.target import Target

Check = Callable[[Target, Clients], list[Result]]
FAMILIES: tuple[tuple[str, Check], ...] = (
    ("apis", apis.check),
    ("state", state.check),
    ("secrets", secrets.check),
    ("cmek", cmek.check),
    ("channels", channels.check),
    ("orgpolicy", org_policy.check),
    ("wif", workload_identity.check),
)


class NoCredentials(Exception):
    """No Application Default Credentials; the message says how to get them."""


def credentials_label(clients: Clients, environ: Mapping[str, str]) -> str:
    """Where credentials come from; raises NoCredentials like `make plan` explains it."""
    if clients.all_overridden:
        return "anonymous (every endpoint overridden)"
    from stacks.plan import credential_source

    source, problem = credential_source(environ, Path(environ.get("HOME", Path.home())))
    if source is None:
        raise NoCredentials(
            "Google Cloud credentials not found"
            + (f" ({problem})" if problem else "")
            + ": locally `gcloud auth application-default login`; in CI "
            "google-github-actions/auth with Workload Identity Federation"
        )
    return source


def _guarded(name: str, family: Check, target: Target, clients: Clients) -> list[Result]:
    try:
        return family(target, clients)
    except Exception as exc:  # a bug or an unexpected answer must not hide the other checks
        return [unchecked(name, "check", f"the check itself failed: {type(exc).__name__}: {exc}")]


def run(target: Target, clients: Clients, environ: Mapping[str, str] | None = None) -> Report:
    environ = os.environ if environ is None else environ
    label = credentials_label(clients, environ)
    results, number = project.check(target, clients)
    target = replace(target, project_number=number or target.project_number)
    with ThreadPoolExecutor(max_workers=len(FAMILIES)) as pool:
        futures = [pool.submit(_guarded, name, fn, target, clients) for name, fn in FAMILIES]
        for future in futures:
            results.extend(future.result())
    return Report(target.env.name, target.project_id, target.project_number, label, results)
