"""The track and identify folders are handlers the stacks can deploy as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STACK_INJECTED = {
    "CIO_ENVIRONMENT", "CIO_REGION", "GOOGLE_CLOUD_PROJECT", "CIO_RATE_LIMIT_PER_SECOND",
    "CIO_TIMEOUT_SECONDS", "CIO_BATCH_MAX_WAIT_MS", "THREADS",
}  # fmt: skip
KEYS = {
    "entry_point",
    "description",
    "trigger",
    "topic",
    "calls_track_api",
    "secrets",
    "publishes",
    "env",
}


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements/lock.txt").read_text().splitlines():
        if m := re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line):
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


@pytest.mark.parametrize("name", ["track", "identify"])
def test_manifest_follows_the_design_format(name):
    manifest = yaml.safe_load((REPO / f"functions/{name}/handler.yaml").read_text())
    assert set(manifest) - {"ordered"} == KEYS
    assert manifest.get("ordered", False) is (name == "identify"), "person operations in order"
    assert (manifest["entry_point"], manifest["trigger"], manifest["topic"]) == (
        "handle",
        "pubsub_push",
        name,
    )
    assert manifest["calls_track_api"] is True
    assert manifest["secrets"] == {"CIO_SITE_ID": "site-id", "CIO_TRACK_API_KEY": "track-api-key"}
    assert manifest["publishes"] == {"CIO_DEAD_LETTER_TOPIC": f"{name}-dead-letter"}
    assert all(isinstance(v, str) for v in manifest["env"].values())
    assert not STACK_INJECTED & set(manifest["env"]), "the stack injects these itself"


@pytest.mark.parametrize("name", ["track", "identify"])
def test_requirements_are_exact_pins_matching_the_lock(name):
    pinned = lock()
    lines = [
        line for line in (REPO / f"functions/{name}/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    assert lines
    for line in lines:
        package, _, version = line.partition("==")
        assert version, f"{line!r} is not an exact pin"
        assert pinned[package.lower()] == version, f"{package} differs from requirements/lock.txt"
