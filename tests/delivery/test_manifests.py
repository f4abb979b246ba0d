"""The track and identify folders are handlers the stacks can deploy as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from cio_shared import contract
from cio_shared.messages import TOPIC_ACTIONS

REPO = Path(__file__).resolve().parents[2]
STACK_INJECTED = set(contract.INJECTED_VARIABLES)
KEYS = {
    "entry_point",
    "description",
    "trigger",
    "topic",
    "carries",
    "calls_track_api",
    "secrets",
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
    assert set(manifest["carries"]) == TOPIC_ACTIONS[name], "the manifest says what it carries"
    assert all(isinstance(v, str) for v in manifest["env"].values())
    assert not STACK_INJECTED & set(manifest["env"]), "the stack injects these itself"


@pytest.mark.parametrize("name", ["track", "identify"])
def test_requirements_are_exact_pins_matching_the_lock(name):
    pinned = lock()
    # Generated with hashes (scripts/handler_requirements.py): `name==version \` lines, each
    # followed by its `--hash=sha256:...` lines.
    lines = [
        line.removesuffix("\\").strip()
        for line in (REPO / f"functions/{name}/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.lstrip().startswith("--hash")
    ]  # fmt: skip
    assert lines
    for line in lines:
        package, _, version = line.partition("==")
        assert version, f"{line!r} is not an exact pin"
        assert pinned[package.lower().replace("_", "-")] == version, (
            f"{package} differs from requirements/lock.txt"
        )
