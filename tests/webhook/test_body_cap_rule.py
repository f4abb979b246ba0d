"""The webhook's body cap x concurrency must fit in its memory (stacks/readiness.py), issue 18
item 2: a body under the cap is read whole before its signature can be checked, so anyone can
make every concurrent request of an instance hold that much."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cio_shared import contract
from cio_shared.webhooks.settings import DEFAULT_MAX_BODY_BYTES

from stacks.config import Environment, load_all, load_environment
from stacks.manifests import HandlerManifest, discover
from stacks.readiness import ReadinessError, check
from tests.support.processes import FUNCTIONS

REPO = Path(__file__).resolve().parents[2]
PROD = yaml.safe_load((REPO / "environments" / "prod.yaml").read_text())


def manifests(cap: str | None) -> list[HandlerManifest]:
    found = discover(FUNCTIONS)
    out = []
    for manifest in found:
        if manifest.name == "webhook":
            env = {k: v for k, v in manifest.env.items() if k != contract.WEBHOOK_MAX_BODY_VARIABLE}
            if cap is not None:
                env[contract.WEBHOOK_MAX_BODY_VARIABLE] = cap
            out.append(manifest.model_copy(update={"env": env}))
        else:
            out.append(manifest)
    return out


def prod_like(tmp_path: Path, **webhook: object) -> Environment:
    data = dict(PROD)
    data["handlers"] = {**PROD["handlers"], "webhook": {**PROD["handlers"]["webhook"], **webhook}}
    path = tmp_path / "qa.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_environment(path)


def test_the_repository_environments_fit() -> None:
    check(load_all(REPO / "environments"), discover(FUNCTIONS))


def test_the_old_8_mib_cap_does_not_fit_prod(tmp_path: Path) -> None:
    """prod: 512Mi (the default), concurrency 80; 80 x 8 MiB x 2 = 1280 MiB."""
    env = prod_like(tmp_path)
    with pytest.raises(ReadinessError) as info:
        check([env], manifests(str(8 * 1024 * 1024)))
    message = str(info.value)
    assert "environments/qa.yaml: handlers.webhook: concurrency 80 x body cap 8388608" in message
    assert "CIO_WEBHOOK_MAX_BODY_BYTES in functions/webhook/handler.yaml" in message
    assert "does not fit in memory 512Mi" in message
    # the fix it names fits: (512 - 192) MiB / (80 x 2)
    assert "Lower CIO_WEBHOOK_MAX_BODY_BYTES to at most 2097152" in message
    check([env], manifests("2097152"))


@pytest.mark.parametrize(
    ("webhook", "fits"),
    [
        ({}, True),
        ({"memory": "256Mi"}, False),  # 80 x 1 MiB x 2 + 192 MiB = 352 MiB
        ({"memory": "256Mi", "concurrency": 20}, True),
        ({"concurrency": 200}, False),
        ({"concurrency": 200, "memory": "1Gi"}, True),
        ({"memory": "128Mi", "enabled": False}, True),  # not deployed: nothing to run out
    ],
)
def test_the_rule_follows_memory_and_concurrency(
    tmp_path: Path, webhook: dict[str, object], fits: bool
) -> None:
    env = prod_like(tmp_path, **webhook)
    if fits:
        check([env], manifests(None))
    else:
        with pytest.raises(ReadinessError, match=r"handlers\.webhook\.memory"):
            check([env], manifests(None))


def test_the_cap_is_written_once() -> None:
    """The handler's default, the manifest and the rule's default agree."""
    assert DEFAULT_MAX_BODY_BYTES == contract.WEBHOOK_DEFAULT_MAX_BODY_BYTES
    [webhook] = [m for m in discover(FUNCTIONS) if m.name == "webhook"]
    cap = int(webhook.env[contract.WEBHOOK_MAX_BODY_VARIABLE])
    assert cap == contract.WEBHOOK_DEFAULT_MAX_BODY_BYTES
