"""Read the delivery ledger and its trace views in BigQuery (analytics/ledger/, stacks/ledger.py).

Only hashed person ids are sent in a query (`cio_shared.contract.person_hash`), never the
identifier itself. Read-only: SELECTs on the views, as `bigquery.raw_readers` may run them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cio_shared.contract import LEDGER_PURPOSE

from cio_doctor.config import EnvFile
from cio_doctor.findings import CannotCheck
from cio_doctor.gcloud import google_client, google_error

_TIMEOUT_S = 60
DECISION_COLUMNS = (
    "logged_at",
    "handler_service",
    "action",
    "event_id",
    "message_id",
    "decision",
    "reason",
    "attempt",
    "cio_status",
    "replay_of",
)
ACTIVITY_COLUMNS = (
    "delivery_id",
    "campaign_id",
    "broadcast_id",
    "channel",
    "sent_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "bounced_at",
    "failed_at",
    "last_metric",
)


def dataset_name(env: EnvFile, purpose: str) -> str:
    """`<prefix>_<env>_<purpose>`, as the stacks name datasets (no dashes in BigQuery)."""
    return env.resource(purpose).replace("-", "_")


@dataclass(frozen=True)
class LedgerReader:
    env: EnvFile

    def view(self, name: str) -> str:
        return f"`{self.env.project_id}.{dataset_name(self.env, LEDGER_PURPOSE)}.{name}`"

    def decisions(
        self, hashes: list[str], event_id: str | None, since: datetime
    ) -> list[dict[str, Any]]:
        """Every decision for these people or this event since `since`, oldest first."""
        # names from the env file and constants; every value is a query parameter
        sql = (
            f"SELECT {', '.join(DECISION_COLUMNS)}, person_hash "  # noqa: S608
            f"FROM {self.view('delivery_ledger')} "
            "WHERE logged_at >= @since AND "
            "(person_hash IN UNNEST(@hashes) OR event_id = @event_id) "
            "ORDER BY logged_at, attempt"
        )
        return self._query(sql, hashes, since, event_id or "")

    def activity(self, hashes: list[str], since: datetime) -> list[dict[str, Any]]:
        """Customer.io's reporting webhooks per delivery to these people since `since`."""
        sql = (
            f"SELECT {', '.join(ACTIVITY_COLUMNS)} FROM {self.view('message_activity')} "  # noqa: S608
            "WHERE person_hash IN UNNEST(@hashes) AND "
            "COALESCE(sent_at, delivered_at, opened_at, bounced_at, failed_at) >= @since "
            "ORDER BY sent_at"
        )
        return self._query(sql, hashes, since)

    def _query(
        self, sql: str, hashes: list[str], since: datetime, event_id: str | None = None
    ) -> list[dict[str, Any]]:
        from cio_shared.common import bigquery_client
        from google.cloud import bigquery

        client = google_client(lambda: bigquery_client(self.env.project_id), "BigQuery")
        parameters: list[Any] = [
            bigquery.ArrayQueryParameter("hashes", "STRING", hashes or [""]),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
        ]
        if event_id is not None:
            parameters.append(bigquery.ScalarQueryParameter("event_id", "STRING", event_id))
        config = bigquery.QueryJobConfig(query_parameters=parameters)
        try:
            result = client.query(sql, job_config=config).result(timeout=_TIMEOUT_S)
        except Exception as exc:
            raise CannotCheck(f"could not read the delivery ledger: {google_error(exc)}") from None
        return [dict(row.items()) for row in result]
