"""Synthesize every environment once per test session (the provider import costs seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stacks.template import Template


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """env name -> cdk.tf.json, synthesized from the real repository tree."""
    from stacks.app import load_environments, synth

    outdir = tmp_path_factory.mktemp("cdktf.out")
    return synth(load_environments(), outdir)


@pytest.fixture(scope="session")
def templates(synthesized: dict[str, Path]) -> dict[str, Template]:
    return {name: Template.from_file(path) for name, path in synthesized.items()}
