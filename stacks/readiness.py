"""Rules between an environment file and the handler manifests, checked before synth.

The environment model (stacks/config.py) cannot see the handler folders; these rules can,
so a typo in `handlers.<name>` or a secret without a pinned version fails here, naming the
file, the key and the fix, instead of at apply or as a revision that cannot start.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from cio_shared import contract

from stacks import claims
from stacks.config import Environment
from stacks.manifests import PREVIOUS, HandlerManifest


class ReadinessError(ValueError):
    """The environment file and the handler folders disagree; the message lists each problem."""


def _unknown_handlers(env: Environment, names: list[str]) -> list[str]:
    problems = []
    for key in sorted(set(env.handlers) - set(names)):
        close = difflib.get_close_matches(key, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        problems.append(
            f"handlers.{key}: there is no handler folder functions/{key}/ (known: {names}); "
            f"its settings would be ignored.{hint}"
        )
    return problems


def _unpinned_secrets(env: Environment, manifests: Sequence[HandlerManifest]) -> list[str]:
    readers: dict[str, list[str]] = {}
    for manifest in manifests:
        for reference in manifest.secrets.values():
            if not reference.endswith(PREVIOUS):
                readers.setdefault(reference, []).append(manifest.name)
    problems = []
    for logical in sorted(set(readers) - set(env.secret_versions)):
        secret_id = env.resource_name(logical)
        problems.append(
            f"secret_versions.{logical}: no version pinned, but handler(s) "
            f"{sorted(set(readers[logical]))} read it. Add the value out of band, then pin "
            f"the version it printed: `printf '%s' \"$VALUE\" | gcloud secrets versions add "
            f"{secret_id} --data-file=- --project {env.project_id}` and "
            f"`secret_versions: {{{logical}: <version>}}` (or set deploy_handlers: false "
            "for a first deploy without handlers)"
        )
    return problems


_MIB = 1024 * 1024


def _memory_bytes(memory: str) -> int:
    """`512Mi` / `1Gi` (the pattern stacks/config.py enforces) in bytes."""
    match = re.fullmatch(r"([0-9]+)(Mi|Gi)", memory)
    if match is None:
        raise ValueError(f"unreadable memory {memory!r}")
    return int(match.group(1)) * _MIB * (1024 if match.group(2) == "Gi" else 1)


def _public_body_memory(env: Environment, manifests: Sequence[HandlerManifest]) -> list[str]:
    """A public handler reads a body up to its cap whole before it can tell Customer.io's from
    anyone's (the signature covers the whole body), so every request it works on at once may
    hold cap x WEBHOOK_BODY_COPIES of a stranger's bytes. Those must fit in the instance."""
    problems = []
    variable = contract.WEBHOOK_MAX_BODY_VARIABLE
    for manifest in manifests:
        if manifest.trigger != "http_public" or not env.enabled(manifest.name):
            continue
        raw = manifest.env.get(variable, str(contract.WEBHOOK_DEFAULT_MAX_BODY_BYTES))
        if not raw.strip().isdigit():
            continue  # the handler refuses it at start, naming the variable
        cap = int(raw)
        scaling = env.scaling(manifest.name)
        memory = _memory_bytes(scaling.memory)
        needed = (
            scaling.concurrency * cap * contract.WEBHOOK_BODY_COPIES
            + contract.WEBHOOK_BASELINE_MEMORY_BYTES
        )
        baseline = contract.WEBHOOK_BASELINE_MEMORY_BYTES // _MIB
        if needed > memory:
            fitting = (memory - contract.WEBHOOK_BASELINE_MEMORY_BYTES) // (
                scaling.concurrency * contract.WEBHOOK_BODY_COPIES
            )
            problems.append(
                f"handlers.{manifest.name}: concurrency {scaling.concurrency} x body cap "
                f"{cap} bytes ({variable} in functions/{manifest.name}/handler.yaml) x "
                f"{contract.WEBHOOK_BODY_COPIES} copies + {baseline} MiB baseline = "
                f"{needed / _MIB:.0f} MiB does not fit in memory {scaling.memory}: anyone "
                "can send bodies that large to the public URL and run the instance out of "
                f"memory. Lower {variable} to at most {max(fitting, 0)}, or lower "
                f"handlers.{manifest.name}.concurrency, or raise handlers.{manifest.name}.memory"
            )
    return problems


def _shares_without_budget(env: Environment, manifests: Sequence[HandlerManifest]) -> list[str]:
    """A share of a budget the handler never spends would be silently ignored."""
    problems = []
    for manifest in manifests:
        scaling = env.handlers.get(manifest.name)
        if scaling is None:
            continue
        if scaling.request_share and not manifest.calls_track_api:
            problems.append(
                f"handlers.{manifest.name}.request_share: the handler does not call the Track "
                "API (functions/<name>/handler.yaml calls_track_api)"
                + ("; use app_request_share" if manifest.calls_app_api else "")
            )
        if scaling.app_request_share and not manifest.calls_app_api:
            problems.append(
                f"handlers.{manifest.name}.app_request_share: the handler does not call the App "
                "API (functions/<name>/handler.yaml calls_app_api)"
            )
    return problems


def _claims_location(env: Environment, manifests: Sequence[HandlerManifest]) -> list[str]:
    if not any(m.firestore and env.enabled(m.name) for m in manifests):
        return []
    problem = claims.location_problem(env)
    return [problem] if problem else []


def problems(env: Environment, manifests: Sequence[HandlerManifest]) -> list[str]:
    names = sorted(m.name for m in manifests)
    manifests = [m.with_delivery_api(env.customerio.api) for m in manifests]
    found = _unknown_handlers(env, names)
    found += _shares_without_budget(env, manifests)
    found += _claims_location(env, manifests)
    if env.deploy_handlers:
        found += _unpinned_secrets(env, manifests)
        found += _public_body_memory(env, manifests)
    return found


def check(environments: Sequence[Environment], manifests: Sequence[HandlerManifest]) -> None:
    """Raise ReadinessError listing every problem of every environment."""
    lines = [
        f"environments/{env.name}.yaml: {problem}"
        for env in environments
        for problem in problems(env, manifests)
    ]
    if lines:
        raise ReadinessError("\n  - ".join(["environment files and handlers disagree:", *lines]))
