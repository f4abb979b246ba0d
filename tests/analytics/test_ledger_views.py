"""The delivery ledger's table and trace views (analytics/ledger/) in the bqemulator emulator.

The ledger rows are the handlers' real decision lines: each comes from a DeliveryHandler run
(sender answers chosen per case), shaped as Cloud Logging's BigQuery export writes a
`run.googleapis.com/stdout` entry (jsonPayload as a record, numbers as FLOAT, insertId,
receiveTimestamp). Realistic trouble is included: the same entry routed twice, lines arriving
out of order (a late earlier line), a dead letter replayed, a person Customer.io messaged who
has no events, and webhook events delivered twice.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

import pytest
from cio_shared import contract
from cio_shared.common import StructuredLogger, bigquery_client
from cio_shared.delivery import DeliveryHandler
from cio_shared.delivery.decisions import Outcome, from_status
from google.cloud import bigquery

from stacks.analytics import load_schema, load_views
from stacks.ledger import LEDGER_FOLDER, view_order
from tests.analytics.test_views import PROJECT, create_table_and_views
from tests.delivery import harness as h

pytestmark = pytest.mark.integration

ANALYTICS = Path(__file__).resolve().parents[2] / "analytics"
DATASET = "cio_test_ledger_analytics"
LEDGER = "cio_test_ledger"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)

PERSON_A = ("id", "42")
PERSON_B = ("email", "Jane.Doe@Example.com")
PERSON_C = ("id", "99")  # messaged by a campaign, no events of ours


class Answer:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def send(self, operation: bytes) -> Outcome:
        return self.outcome


class NoDeadLetters:
    def publish(self, data: bytes, attributes: dict[str, str]) -> str:
        return "dl-" + attributes.get("cio_event_id", "")[-4:]


def decision_line(
    event_id: str, person: tuple[str, str], outcome: Outcome, attempt: int, **attributes: str
) -> dict[str, Any]:
    """The JSON line the real handler logs for one delivery."""
    stream = io.StringIO()
    handler = DeliveryHandler(
        handler="track",
        topic="track",
        sender=Answer(outcome),
        dead_letters=NoDeadLetters(),
        source_topic="projects/p/topics/cio-test-track",
        logger=StructuredLogger("cio-handler-track", stream=stream),
    )
    message = h.event_message(event_id=event_id, person={person[0]: person[1]})
    envelope = {
        "message": {
            "data": base64.b64encode(json.dumps(message).encode()).decode(),
            "messageId": f"m-{event_id[-4:]}-{attempt}",
            "attributes": attributes,
        },
        "deliveryAttempt": attempt,
    }
    handler.handle(json.dumps(envelope).encode(), {})
    return json.loads(stream.getvalue())


def exported(line: dict[str, Any], at: datetime, insert_id: str, delay_s: int = 2) -> dict:
    """The row Cloud Logging's BigQuery export writes for a structured stdout line."""
    payload = {k: v for k, v in line.items() if k not in ("severity", "time")}
    payload = {
        k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in payload.items()
        if not k.startswith("logging.googleapis.com/") and v is not None
    }
    labels = {
        "service_name": "cio-test-track",
        "revision_name": "cio-test-track-00001-abc",
        "configuration_name": "cio-test-track",
        "location": "europe-west1",
        "project_id": "local-project",
    }
    return {
        "logName": "projects/local-project/logs/run.googleapis.com%2Fstdout",
        "resource": {"type": "cloud_run_revision", "labels": labels},
        "jsonPayload": payload,
        "timestamp": at.isoformat(),
        "receiveTimestamp": (at + timedelta(seconds=delay_s)).isoformat(),
        "severity": line["severity"],
        "insertId": insert_id,
        "trace": "projects/local-project/traces/0123456789abcdef0123456789abcdef",
        "spanId": "0123456789abcdef",
        "traceSampled": True,
    }


E1, E2, E3, E4 = (f"01TRACE{n:019d}" for n in range(1, 5))


def ledger_rows() -> list[dict[str, Any]]:
    """In arrival order, which is not decision order."""
    at = lambda minutes: T0 + timedelta(minutes=minutes)  # noqa: E731
    delivered = exported(decision_line(E1, PERSON_A, from_status(202), 3), at(5), "i-e1-3")
    return [
        exported(decision_line(E1, PERSON_A, from_status(429), 1), at(0), "i-e1-1"),
        delivered,
        delivered,  # routed twice: the same insertId
        exported(decision_line(E2, PERSON_B, from_status(400), 1), at(1), "i-e2-1"),
        exported(decision_line(E3, PERSON_B, from_status(400), 1), at(2), "i-e3-1"),
        exported(
            decision_line(E2, PERSON_B, from_status(200), 1, cio_replay_of="dl-0002"),
            at(30),
            "i-e2-replay",
        ),
        exported(decision_line(E4, PERSON_A, from_status(503), 1), at(8), "i-e4-1"),
        # arrives last although decided second: a late line must not change E1's outcome
        exported(decision_line(E1, PERSON_A, from_status(500), 2), at(2), "i-e1-2", 600),
    ]


def webhook_row(n: int, person: dict[str, str], metric: str, delivery: str, minute: int) -> dict:
    moment = T0 + timedelta(minutes=minute)
    data = {"identifiers": person, "delivery_id": delivery, "campaign_id": 7}
    if "id" in person:
        data["customer_id"] = person["id"]
    return {
        "event_id": f"01WEBHOOK{n:017d}",
        "object_type": "email",
        "metric": metric,
        "timestamp": moment.isoformat(),
        "data": json.dumps(data),
        "delivery_id": delivery,
        "customer_id": person.get("id"),
        "campaign_id": 7,
        "publish_time": (moment + timedelta(seconds=1)).isoformat(),
        "message_id": f"wm-{n}",
    }


def webhook_rows() -> list[dict[str, Any]]:
    a = {"id": "42", "email": "someone@example.com"}
    b = {"email": "jane.doe@example.com"}
    c = {"id": "99"}
    opened = webhook_row(3, a, "opened", "d-a", 20)
    return [
        webhook_row(1, a, "sent", "d-a", 10),
        webhook_row(2, a, "delivered", "d-a", 11),
        opened,
        {**opened, "message_id": "wm-3b"},  # Customer.io retried: the same event twice
        webhook_row(4, b, "sent", "d-b", 12),
        webhook_row(5, b, "bounced", "d-b", 13),
        webhook_row(6, c, "sent", "d-c", 14),
    ]


def create_ledger(
    client: Any, project: str = PROJECT, dataset: str = DATASET, ledger: str = LEDGER
) -> None:
    """As the stacks do: the ledger dataset, its table and its views (in dependency order);
    `dataset` is the analytics dataset the views read the webhook events from."""
    client.create_dataset(f"{project}.{ledger}")
    schema = load_schema(ANALYTICS / LEDGER_FOLDER, contract.LEDGER_TABLE)
    table = bigquery.Table(
        f"{project}.{ledger}.{contract.LEDGER_TABLE}",
        schema=[bigquery.SchemaField.from_api_repr(field) for field in schema],
    )
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field="timestamp"
    )
    client.create_table(table)
    views = load_views(ANALYTICS, LEDGER_FOLDER)
    for name in view_order(views):  # the order the stacks create them in
        view = bigquery.Table(f"{project}.{ledger}.{name}")
        view.view_query = Template(views[name]).substitute(
            project=project, dataset=dataset, ledger=ledger
        )
        client.create_table(view)


@pytest.fixture(scope="module")
def client(bigquery_endpoint: str) -> Any:
    client = bigquery_client(PROJECT)
    create_table_and_views(client, DATASET)
    create_ledger(client)
    assert client.insert_rows_json(f"{PROJECT}.{DATASET}.webhook_events", webhook_rows()) == []
    table = f"{PROJECT}.{LEDGER}.{contract.LEDGER_TABLE}"
    assert client.insert_rows_json(table, ledger_rows()) == []
    return client


def query(client: Any, view: str, where: str = "TRUE") -> list[dict[str, Any]]:
    sql = f"SELECT * FROM `{PROJECT}.{LEDGER}.{view}` WHERE {where}"
    return [dict(row) for row in client.query(sql).result()]


def hashed(person: tuple[str, str]) -> str:
    return contract.person_hash(*person)


def test_the_ledger_view_has_each_entry_once_with_integer_statuses(client: Any) -> None:
    rows = query(client, "delivery_ledger")
    assert len(rows) == len(ledger_rows()) - 1  # the entry routed twice counts once
    delivered = next(r for r in rows if r["event_id"] == E1 and r["decision"] == "delivered")
    assert (delivered["cio_status"], delivered["attempt"]) == (202, 3)
    assert delivered["person_hash"] == hashed(PERSON_A)
    assert delivered["handler_service"] == "cio-test-track"


def test_each_event_has_its_attempts_and_final_decision_by_decision_time(client: Any) -> None:
    events = {row["event_id"]: row for row in query(client, "delivery_by_event")}
    e1, e2, e3, e4 = (events[e] for e in (E1, E2, E3, E4))
    assert (e1["attempts"], e1["retries"], e1["final_decision"]) == (3, 2, "delivered")
    assert e1["first_seen"] == T0 and e1["delivered"] and not e1["dead_lettered"]
    assert (e2["final_decision"], e2["dead_lettered"], e2["replayed"]) == (
        "delivered",
        True,
        True,
    )
    assert e2["dead_letter_reason"] == "rejected_400"
    assert (e3["final_decision"], e3["dead_letter_reason"], e3["replayed"]) == (
        "dead_lettered",
        "rejected_400",
        False,
    )
    assert (e4["final_decision"], e4["final_reason"], e4["final_cio_status"]) == (
        "retry",
        "server_error",
        503,
    )


def test_message_activity_finds_a_person_by_the_identifier_the_ledger_hashed(client: Any) -> None:
    by_id = query(client, "message_activity", f"person_hash = '{hashed(PERSON_A)}'")
    assert [r["delivery_id"] for r in by_id] == ["d-a"]
    assert by_id[0]["opened_at"] == T0 + timedelta(minutes=20) and by_id[0]["bounced_at"] is None
    by_email = query(client, "message_activity", f"person_hash = '{hashed(PERSON_B)}'")
    assert [(r["delivery_id"], r["last_metric"]) for r in by_email] == [("d-b", "bounced")]


def test_the_person_trace_joins_both_sides(client: Any) -> None:
    people = {row["person_hash"]: row for row in query(client, "person_trace")}
    a, b, c = (people[hashed(p)] for p in (PERSON_A, PERSON_B, PERSON_C))
    assert (a["events"], a["events_delivered"], a["events_retrying"]) == (2, 1, 1)
    assert (a["messages_sent"], a["messages_opened"]) == (1, 1)
    assert (b["events"], b["events_dead_lettered"], b["events_replayed"]) == (2, 1, 1)
    assert (b["messages_sent"], b["messages_bounced"]) == (1, 1)
    assert c["events"] is None and c["messages"] == 1  # messaged, never one of our events
