"""The erasure audit (stacks/erasure.py) in every synthesized environment: the table the tool
writes, with the contract's schema, kept without expiry, protected where the environment is."""

from __future__ import annotations

import json

import pytest
from cio_shared import contract

from stacks.analytics import TIME_TRAVEL_HOURS
from tests.stacks.template import Template
from tests.stacks.test_synth import environment
from tests.support.environments import environment_names


@pytest.mark.parametrize("env_name", environment_names())
def test_the_audit_table_is_the_contracts(templates: dict[str, Template], env_name: str) -> None:
    template, env = templates[env_name], environment(env_name)
    dataset = template.one(
        "google_bigquery_dataset", dataset_id=env.dataset_name(contract.ERASURE_PURPOSE)
    )
    assert dataset["max_time_travel_hours"] == str(TIME_TRAVEL_HOURS)
    assert "default_partition_expiration_ms" not in dataset, "the audit is kept"
    table = template.one("google_bigquery_table", table_id=contract.ERASURE_AUDIT_TABLE)
    assert json.loads(table["schema"]) == contract.erasure_audit_schema()
    assert table["time_partitioning"] == {"type": "MONTH", "field": "run_at"}
    assert table["deletion_protection"] is env.protected
