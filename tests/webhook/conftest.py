"""Webhook test fixtures: every test that publishes uses the real Pub/Sub emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.webhook.support import Topics, create_topics, handler_client


@pytest.fixture
def topics(pubsub_emulator_host: str) -> Topics:
    return create_topics()


@pytest.fixture
def client(topics: Topics) -> Iterator[Any]:
    """The handler with the current key and fresh topics."""
    with handler_client(topics.env()) as test_client:
        yield test_client
