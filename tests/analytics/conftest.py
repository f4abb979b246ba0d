"""Analytics fixtures: one bqemulator process for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.analytics.bqemulator import bigquery_emulator

PROJECT = "local-project"


@pytest.fixture(scope="session")
def bigquery_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bqemulator's REST endpoint; BIGQUERY_API_ENDPOINT points the client factory at it."""
    with (
        bigquery_emulator(tmp_path_factory.mktemp("bigquery"), PROJECT) as endpoint,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("BIGQUERY_API_ENDPOINT", endpoint)
        yield endpoint
