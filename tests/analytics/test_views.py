"""The webhook-events table and its views on real rows, in the bqemulator BigQuery emulator.

The rows take the real path as far as it runs locally: signed requests to the handler, which
publishes to the Pub/Sub emulator; this test then plays the BigQuery subscription (which no
emulator runs): it pulls each message and writes the row the subscription would write with
use_table_schema (message fields to same-named columns), drop_unknown_fields and
write_metadata (subscription_name, message_id, publish_time, attributes).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

import pytest
from cio_shared.common import bigquery_client
from google.cloud import bigquery

from tests.support import bigquery_subscription
from tests.webhook.support import (
    Topics,
    create_topics,
    encode,
    handler_client,
    pull,
    signed_headers,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ANALYTICS = REPO / "analytics"
SCHEMA = bigquery_subscription.SCHEMA
PROJECT = "local-project"
SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/cio-test-webhook-events-bq"


def create_table_and_views(client: Any, dataset: str) -> None:
    """As the stacks do: the schema file, day partitions on `timestamp`, clustering, the views."""
    client.create_dataset(f"{PROJECT}.{dataset}")
    table = bigquery.Table(
        f"{PROJECT}.{dataset}.webhook_events",
        schema=[bigquery.SchemaField.from_api_repr(field) for field in SCHEMA],
    )
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field="timestamp"
    )
    table.clustering_fields = ["metric", "object_type"]
    client.create_table(table)
    # raw views (views/) and the readers' authorized views (reporting/); the emulator has no
    # dataset authorization, so both land beside the table here
    for path in sorted([*ANALYTICS.glob("views/*.sql"), *ANALYTICS.glob("reporting/*.sql")]):
        view = bigquery.Table(f"{PROJECT}.{dataset}.{path.stem}")
        view.view_query = Template(path.read_text()).substitute(project=PROJECT, dataset=dataset)
        client.create_table(view)


def subscription_row(message: Any) -> dict[str, Any]:
    """The row the BigQuery subscription writes for one message (see the module docstring)."""
    return bigquery_subscription.subscription_row(message, SUBSCRIPTION)


DAY = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=3)


def _event(n: int, object_type: str, metric: str, day: int, **data: Any) -> dict[str, Any]:
    moment = DAY + timedelta(days=day, minutes=n)
    return {
        "event_id": f"01TESTEVENT{n:015d}",
        "object_type": object_type,
        "metric": metric,
        "timestamp": int(moment.timestamp()),
        "data": {"identifiers": {"id": f"person-{n}"}, **data},
    }


def stream() -> list[dict[str, Any]]:
    """Campaign 7 by email, broadcast 9 by SMS, a newsletter and a customer-level event."""
    c7 = {"campaign_id": 7, "action_id": 70}
    b9 = {"broadcast_id": 9, "action_id": 90, "trigger_id": 1}
    return [
        *(_event(i, "email", "sent", 0, delivery_id=f"d{i}", **c7) for i in range(1, 5)),
        _event(5, "email", "delivered", 0, delivery_id="d1", **c7),
        _event(6, "email", "delivered", 0, delivery_id="d2", **c7),
        _event(7, "email", "opened", 0, delivery_id="d1", **c7),
        _event(8, "email", "opened", 1, delivery_id="d1", **c7),  # opened again next day
        _event(9, "email", "opened", 1, delivery_id="d2", **c7),
        _event(10, "email", "clicked", 1, delivery_id="d1", href="https://x.test", link_id=1, **c7),
        _event(11, "email", "bounced", 0, delivery_id="d3", **c7),
        _event(12, "email", "spammed", 1, delivery_id="d2", **c7),
        _event(13, "email", "unsubscribed", 1, delivery_id="d4", **c7),
        _event(14, "sms", "sent", 0, delivery_id="s1", **b9),
        _event(15, "sms", "delivered", 0, delivery_id="s1", **b9),
        _event(16, "sms", "clicked", 1, delivery_id="s1", **b9),
        _event(17, "email", "sent", 0, delivery_id="n1", newsletter_id=3),
        _event(18, "customer", "subscribed", 0, customer_id="42", email_address="a@b.test"),
    ]


FUNNEL_METRICS = (
    "sent", "delivered", "opened", "clicked", "converted", "bounced", "spammed", "unsubscribed",
)  # fmt: skip
DUPLICATED = {"01TESTEVENT000000000000001", "01TESTEVENT000000000000007"}  # delivered twice


def expected_funnel(events: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, int]]:
    """The funnel computed here in Python: distinct deliveries per metric, day and source."""
    reached: dict[tuple[Any, ...], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in events:
        data = e["data"]
        source = next(
            (
                (kind, data[f"{kind}_id"])
                for kind in ("campaign", "broadcast", "newsletter")
                if f"{kind}_id" in data
            ),
            None,
        )
        if e["object_type"] == "customer" or source is None:
            continue
        day = datetime.fromtimestamp(e["timestamp"], UTC).date()
        reached[(day, e["object_type"], *source)][e["metric"]].add(data["delivery_id"])
    return {
        key: {m: len(by_metric[m]) for m in FUNNEL_METRICS} for key, by_metric in reached.items()
    }


@pytest.fixture(scope="module")
def loaded(
    bigquery_endpoint: str, pubsub_emulator_host: str
) -> tuple[Any, str, list[dict[str, Any]]]:
    """Stream -> handler -> Pub/Sub emulator -> (subscription stand-in) -> bqemulator table."""
    events = stream()
    topics: Topics = create_topics()
    arrival = list(events)
    # Customer.io's retries reorder events: arrival order is not time order.
    random.Random(7).shuffle(arrival)
    with handler_client(topics.env()) as client:
        for payload in arrival:
            body = encode(payload)
            copies = 2 if payload["event_id"] in DUPLICATED else 1
            for _ in range(copies):  # a retry re-signs the same body
                assert client.post("/", data=body, headers=signed_headers(body)).status_code == 200
    messages = pull(topics.events_subscription, expected=len(events) + len(DUPLICATED))
    assert len(messages) == len(events) + len(DUPLICATED)
    client = bigquery_client(PROJECT)
    dataset = "cio_test_analytics"
    create_table_and_views(client, dataset)
    errors = client.insert_rows_json(
        f"{PROJECT}.{dataset}.webhook_events", [subscription_row(m) for m in messages]
    )
    assert errors == []
    return client, dataset, events


def query(client: Any, sql: str) -> list[dict[str, Any]]:
    return [dict(row) for row in client.query(sql).result()]


def test_every_published_row_is_in_the_table_with_its_values(loaded) -> None:
    client, dataset, events = loaded
    rows = query(client, f"SELECT * FROM `{PROJECT}.{dataset}.webhook_events`")
    assert len(rows) == len(events) + len(DUPLICATED)
    by_id = {row["event_id"]: row for row in rows}
    for payload in events:
        row = by_id[payload["event_id"]]
        assert row["timestamp"] == datetime.fromtimestamp(payload["timestamp"], UTC)
        assert row["data"] == payload["data"]
        assert row["campaign_id"] == payload["data"].get("campaign_id")
        assert row["delivery_id"] == payload["data"].get("delivery_id")
        assert row["attributes"]["event_id"] == payload["event_id"]
        assert row["subscription_name"] == SUBSCRIPTION
        assert row["publish_time"] is not None


def test_the_deduplicated_view_has_each_event_once(loaded) -> None:
    client, dataset, events = loaded
    rows = query(client, f"SELECT * FROM `{PROJECT}.{dataset}.webhook_events_deduplicated`")
    assert sorted(row["event_id"] for row in rows) == sorted(e["event_id"] for e in events)
    copies = {row["event_id"]: row["copies"] for row in rows}
    assert {event_id for event_id, n in copies.items() if n == 2} == DUPLICATED
    assert "copy_rank" not in rows[0]
    table_columns = {field["name"] for field in SCHEMA}
    assert set(rows[0]) == table_columns | {"copies"}


def test_the_daily_funnel_counts_each_delivery_once_per_metric_and_day(loaded) -> None:
    client, dataset, events = loaded
    rows = query(client, f"SELECT * FROM `{PROJECT}.{dataset}.webhook_delivery_funnel_daily`")
    actual = {
        (row["event_date"], row["channel"], row["source"], row["source_id"]): {
            metric: row[metric] for metric in FUNNEL_METRICS
        }
        for row in rows
    }
    assert actual == expected_funnel(events)
    day0 = DAY.date()
    assert actual[(day0, "email", "campaign", 7)]["sent"] == 4
    assert actual[(day0 + timedelta(days=1), "email", "campaign", 7)]["opened"] == 2
    assert all(isinstance(key[0], date) for key in actual)


PERSONAL = {"customer_id", "data", "extra", "attributes"}


def test_the_readers_view_has_one_row_per_event_and_no_personal_data(loaded) -> None:
    client, dataset, events = loaded
    rows = query(client, f"SELECT * FROM `{PROJECT}.{dataset}.webhook_activity`")
    assert not PERSONAL & set(rows[0])
    assert sorted(r["event_id"] for r in rows) == sorted({e["event_id"] for e in events})
