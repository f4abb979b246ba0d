"""Where the smoke event ended up: its row in `webhook_events`, or its message in the BigQuery
subscription's dead-letter subscription; and the subscription's own `bigquery_config.state`.

This settles whether a `use_table_schema` subscription takes a JSON column as an object: the
webhook sends `data` and `extra` as JSON objects (cio_shared.webhooks.to_row). A row
whose `data` reads back as an object proves it; a dead letter carries the reason.

The dead-letter subscription is shared with real failures: only the smoke message is acked,
every other message pulled is handed back at once (ack deadline 0), untouched.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_shared.common import google_clients

from scripts.smoke_report import Report
from scripts.smoke_stack import BigQuerySink

STATE_FIXES = {
    "PERMISSION_DENIED": (
        "Pub/Sub may not write to the table",
        "grant the Pub/Sub service agent (service-<project number>@gcp-sa-pubsub."
        "iam.gserviceaccount.com) roles/bigquery.dataEditor on the dataset (the stack does: "
        "re-apply) and check bigquery.googleapis.com is enabled",
    ),
    "NOT_FOUND": (
        "the table does not exist",
        "re-apply the stack (it creates cio_<env>_analytics.webhook_events), then check the "
        "subscription's table name",
    ),
    "SCHEMA_MISMATCH": (
        "the table's schema does not match the messages",
        "compare analytics/webhook_events.schema.json with the deployed table (bq show "
        "--schema) and re-apply; see the dead-letter subscription for the rejected rows",
    ),
    "IN_TRANSIT_LOCATION_RESTRICTION": (
        "the topic's message storage policy (enforce_in_transit) excludes the dataset's location",
        "allow the dataset's location (bigquery.location) in the topic's message storage "
        "policy, or move the dataset",
    ),
    "VERTEX_AI_LOCATION_RESTRICTION": (
        "a transform's Vertex AI location is not allowed",
        "remove the transform or allow its location",
    ),
    "STATE_UNSPECIFIED": (
        "Pub/Sub reports no state (not a BigQuery subscription, or an emulator)",
        "re-apply the stack so the subscription has its bigquery_config",
    ),
}
DEAD_LETTER_ATTRIBUTES = (
    "CloudPubSubDeadLetterSourceSubscription",
    "CloudPubSubDeadLetterSourceDeliveryCount",
    "cio_reason",
    "cio_detail",
)


def subscription_state(report: Report, project: str, sink: BigQuerySink) -> None:
    """`bigquery_config.state` of the BigQuery subscription must be ACTIVE."""
    from google.api_core import exceptions

    check = f"subscription {sink.subscription} state"
    try:
        subscription = google_clients.subscriber().get_subscription(
            subscription=f"projects/{project}/subscriptions/{sink.subscription}", timeout=20
        )
    except exceptions.NotFound:
        report.failed(check, "the subscription does not exist", "re-apply the stack")
        return
    state = subscription.bigquery_config.state.name
    if state == "ACTIVE":
        report.passed(check, f"ACTIVE, writing to {sink.table}")
        return
    meaning, fix = STATE_FIXES.get(state, ("an unknown state", "see Pub/Sub's BigQueryConfig"))
    report.failed(check, f"{state}: {meaning}", fix)


def _bigquery_errors() -> tuple[type[BaseException], ...]:
    import requests
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError

    return (
        exceptions.GoogleAPICallError,
        exceptions.RetryError,
        GoogleAuthError,
        requests.RequestException,
        TimeoutError,
    )


def _find_row(client: Any, sink: BigQuerySink, event_id: str, timeout: float) -> Any | None:
    from google.cloud import bigquery

    retry = bigquery.DEFAULT_RETRY.with_timeout(timeout)
    now = datetime.now(UTC)
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("event_id", "STRING", event_id),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", now - timedelta(days=2)),
        ]
    )
    sql = (
        f"SELECT event_id, data, extra FROM `{sink.table}` "  # noqa: S608 (table from the stack)
        "WHERE event_id = @event_id AND timestamp >= @since LIMIT 1"
    )
    job = client.query(sql, job_config=config, retry=retry, job_retry=None, timeout=timeout)
    rows = list(job.result(retry=retry, timeout=timeout))
    return rows[0] if rows else None


def _dead_letter(project: str, subscription: str, event_id: str) -> dict[str, str] | None:
    """Pull once; ack the smoke message and return its attributes, hand back everything else."""
    from google.api_core import exceptions

    subscriber = google_clients.subscriber()
    path = f"projects/{project}/subscriptions/{subscription}"
    try:  # an empty subscription may hold the pull until its deadline
        answer = subscriber.pull(subscription=path, max_messages=100, timeout=5)
    except exceptions.DeadlineExceeded:
        return None
    found, mine, others = None, [], []
    for received in answer.received_messages:
        attributes = dict(received.message.attributes)
        if attributes.get("event_id") == event_id or event_id.encode() in received.message.data:
            found = attributes
            mine.append(received.ack_id)
        else:
            others.append(received.ack_id)
    if others:
        subscriber.modify_ack_deadline(subscription=path, ack_ids=others, ack_deadline_seconds=0)
    if mine:
        subscriber.acknowledge(subscription=path, ack_ids=mine)
    return found


def _reason(attributes: dict[str, str]) -> str:
    parts = [f"{name}={attributes[name]}" for name in DEAD_LETTER_ATTRIBUTES if name in attributes]
    errors = [f"{k}={v}" for k, v in sorted(attributes.items()) if "error" in k.lower()]
    return ", ".join(parts + errors) or "no reason attribute"


def wait_for_landing(
    report: Report,
    project: str,
    sink: BigQuerySink,
    event_id: str,
    wait_seconds: float,
    poll_seconds: float,
) -> None:
    check = f"{sink.table} row"
    deadline = time.monotonic() + wait_seconds
    client = google_clients.bigquery_client(project)
    while True:
        remaining = max(deadline - time.monotonic(), 1.0)
        try:
            row = _find_row(client, sink, event_id, timeout=min(remaining, 30.0))
        except _bigquery_errors() as exc:
            if _report_dead_letter(report, project, sink, event_id):
                return
            report.unchecked(
                check,
                f"cannot query {sink.table} ({type(exc).__name__})",
                "run as an identity with roles/bigquery.dataViewer on the dataset and "
                "roles/bigquery.jobUser on the project, and check BigQuery is reachable",
            )
            return
        if row is not None:
            _judge_row(report, check, row, event_id)
            return
        if _report_dead_letter(report, project, sink, event_id):
            return
        if time.monotonic() >= deadline:
            report.failed(
                check,
                f"{event_id} neither in the table nor dead-lettered after {wait_seconds:g}s",
                "check the subscription's backlog and state (above); run again with a longer "
                "--wait-seconds",
            )
            return
        time.sleep(min(poll_seconds, max(deadline - time.monotonic(), 0.0)))


def _judge_row(report: Report, check: str, row: Any, event_id: str) -> None:
    data = row["data"]
    if isinstance(data, dict) and data.get("smoke_check", {}).get("event_id") == event_id:
        report.passed(check, f"{event_id} landed; the JSON column `data` holds an object")
        return
    report.failed(
        check,
        f"{event_id} landed but `data` reads back as {type(data).__name__}, not an object "
        "(the subscription stored the JSON as text)",
        "change `to_row` in functions/cio_shared/webhooks/events.py to send what the column "
        "takes, deploy, then replay the affected rows",
    )


def _report_dead_letter(report: Report, project: str, sink: BigQuerySink, event_id: str) -> bool:
    """True when the smoke message was found among the dead letters (and reported)."""
    from google.api_core.exceptions import PermissionDenied

    holder = sink.dead_letter_subscription
    if holder is None or any(c.name == f"dead letters {holder}" for c in report.checks):
        return False
    try:
        attributes = _dead_letter(project, holder, event_id)
    except PermissionDenied:
        report.unchecked(
            f"dead letters {holder}",
            "cannot pull the dead-letter subscription (PermissionDenied)",
            f"grant roles/pubsub.subscriber on {holder} to the identity running the check",
        )
        return False
    if attributes is None:
        return False
    report.failed(
        f"{sink.table} row",
        f"{event_id} was dead-lettered to {holder} instead of written ({_reason(attributes)})",
        "if the reason is the JSON columns, change `to_row` in "
        "functions/cio_shared/webhooks/events.py, deploy, then replay the dead letters "
        "(cio-doctor dlq); otherwise fix the subscription state reported here",
    )
    return True
