"""Every synthesized stack carries the dependency lock `terraform init -lockfile=readonly`
checks providers against: exactly its required providers, at their versions, with the
registry's published zh: checksums."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacks.provider_lock import LOCK_FILE, PROVIDERS, ProviderLockError, render

BLOCK = re.compile(
    r'provider "registry\.terraform\.io/(?P<source>[a-z0-9/-]+)" \{\n'
    r'  version     = "(?P<version>[^"]+)"\n  constraints = "(?P<constraints>[^"]+)"\n'
    r"  hashes = \[\n(?P<hashes>(?:    \"zh:[0-9a-f]{64}\",\n)+)  \]\n\}"
)


def parsed(lock: Path) -> dict[str, tuple[str, str, int]]:
    return {
        m["source"]: (m["version"], m["constraints"], m["hashes"].count("zh:"))
        for m in BLOCK.finditer(lock.read_text())
    }


def test_each_environment_stack_locks_exactly_its_providers(synthesized: dict[str, Path]) -> None:
    for stack_json in synthesized.values():
        required = json.loads(stack_json.read_text())["terraform"]["required_providers"]
        locked = parsed(stack_json.parent / LOCK_FILE)
        expected = {
            (s["source"] if "/" in s["source"] else f"hashicorp/{s['source']}"): s["version"]
            for s in required.values()
        }
        assert {k: v[0] for k, v in locked.items()} == expected
        assert all(v[0] == v[1] and v[2] >= 10 for v in locked.values())


def test_the_bootstrap_locks_its_providers_too(tmp_path: Path) -> None:
    from bootstrap.app import build

    for name in build(tmp_path):
        locked = parsed(tmp_path / "stacks" / name / LOCK_FILE)
        assert locked and set(locked) <= set(PROVIDERS)


def test_an_unrecorded_provider_version_fails_synth_with_the_fix() -> None:
    with pytest.raises(ProviderLockError, match="terraform providers lock"):
        render({"google": {"source": "google", "version": "7.0.0"}})
