"""Fixtures shared by every test area: the Pub/Sub emulator and local servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import pubsub_emulator


@pytest.fixture(scope="session")
def pubsub_emulator_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Pub/Sub emulator for the session; sets PUBSUB_EMULATOR_HOST while it runs."""
    log = Path(tmp_path_factory.mktemp("pubsub")) / "emulator.log"
    with pubsub_emulator(log_path=log) as host:
        previous = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        try:
            yield host
        finally:
            if previous is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = previous


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """env name -> cdk.tf.json, synthesized once per session from the real repository tree
    (stack tests and the policy gate tests share it; the provider import costs seconds)."""
    from stacks.app import load_environments, synth

    outdir = tmp_path_factory.mktemp("cdktf.out")
    return synth(load_environments(), outdir)
