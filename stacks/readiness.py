"""Rules between an environment file and the handler manifests, checked before synth.

The environment model (stacks/config.py) cannot see the handler folders; these rules can,
so a typo in `handlers.<name>` or a secret without a pinned version fails here, naming the
file, the key and the fix, instead of at apply or as a revision that cannot start.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

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


def problems(env: Environment, manifests: Sequence[HandlerManifest]) -> list[str]:
    names = sorted(m.name for m in manifests)
    found = _unknown_handlers(env, names)
    if env.deploy_handlers:
        found += _unpinned_secrets(env, manifests)
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
