"""Fixtures shared by every test area: the Pub/Sub emulator and local servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.firestore import firestore_emulator
from tests.support.processes import pubsub_emulator


@contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """`name=value` in os.environ meanwhile, then as it was."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@pytest.fixture(scope="session")
def pubsub_emulator_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Pub/Sub emulator for the session; sets PUBSUB_EMULATOR_HOST while it runs."""
    log = Path(tmp_path_factory.mktemp("pubsub")) / "emulator.log"
    with pubsub_emulator(log_path=log) as host, environment_variable("PUBSUB_EMULATOR_HOST", host):
        yield host


@pytest.fixture(scope="session")
def firestore_emulator_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Firestore emulator for the session (transactional claims, the Pipelines guard);
    sets FIRESTORE_EMULATOR_HOST while it runs."""
    log = Path(tmp_path_factory.mktemp("firestore")) / "emulator.log"
    with (
        firestore_emulator(log_path=log) as host,
        environment_variable("FIRESTORE_EMULATOR_HOST", host),
    ):
        yield host


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """env name -> cdk.tf.json, synthesized once per session from the real repository tree
    (stack tests and the policy gate tests share it; the provider import costs seconds)."""
    from stacks.app import load_environments, synth

    outdir = tmp_path_factory.mktemp("cdktf.out")
    return synth(load_environments(), outdir)
