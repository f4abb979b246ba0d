"""Erasure in BigQuery: the person's rows in `webhook_events` and the delivery ledger.

Rows are matched by person hash only (`cio_shared.contract.person_hash`, computed in SQL as
`TO_HEX(SHA256(CONCAT(kind, ':', value)))`), so a rerun needs no identifier kept anywhere.

Two ways rows arrive, two rules for DML (docs.cloud.google.com/bigquery/docs/
data-manipulation-language, "Limitations"):
- the delivery ledger is a Cloud Logging sink export, written with the legacy streaming API
  (`tabledata.insertAll`): rows written in the last 30 minutes cannot be changed by UPDATE,
  DELETE or MERGE, and streamed data can take up to 90 minutes to leave the buffer; a DELETE
  touching them fails with "would affect rows in the streaming buffer";
- `webhook_events` is written by a BigQuery subscription, i.e. the Storage Write API, whose
  recently written rows DML may modify.
Either way a DELETE that fails on the streaming buffer becomes a pending step with a retry
time, and every table is counted again after its DELETE: a table is done only at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_shared.contract import LEDGER_PURPOSE, LEDGER_TABLE

from cio_doctor.config import EnvFile
from cio_doctor.findings import CannotCheck
from cio_doctor.gcloud import google_error
from cio_doctor.ledger import dataset_name

STREAMING_BUFFER = "streaming buffer"
BUFFER_RETRY = timedelta(minutes=90)  # the documented longest stay in the streaming buffer
TIMEOUT_S = 120


def _hashed(kind: str, column: str) -> str:
    value = f"LOWER(TRIM({column}))" if kind == "email" else f"TRIM({column})"
    return f"TO_HEX(SHA256(CONCAT('{kind}:', {value}))) IN UNNEST(@hashes)"


def _json(path: str) -> str:
    return f"JSON_VALUE(data, '$.{path}')"


WEBHOOK_MATCH = " OR ".join(
    [
        _hashed("id", "customer_id"),
        _hashed("id", _json("customer_id")),
        _hashed("id", _json("identifiers.id")),
        _hashed("email", _json("identifiers.email")),
        _hashed("cio_id", _json("identifiers.cio_id")),
        _hashed("email", _json("email_address")),
        _hashed("email", _json("recipient")),
    ]
)
LEDGER_MATCH = "jsonPayload.person_hash IN UNNEST(@hashes)"


@dataclass(frozen=True)
class Table:
    name: str  # the location's name in reports and state
    table_id: str  # project.dataset.table
    match: str
    writer: str  # how rows arrive: which DML rule applies


def tables(env: EnvFile) -> list[Table]:
    project = env.project_id
    return [
        Table(
            "bigquery.webhook_events",
            f"{project}.{dataset_name(env, 'analytics')}.webhook_events",
            WEBHOOK_MATCH,
            "Storage Write API (BigQuery subscription)",
        ),
        Table(
            "bigquery.ledger",
            f"{project}.{dataset_name(env, LEDGER_PURPOSE)}.{LEDGER_TABLE}",
            LEDGER_MATCH,
            "legacy streaming API (Cloud Logging sink)",
        ),
    ]


@dataclass
class TableResult:
    table: Table
    exists: bool = True
    before: int = 0
    deleted: int = 0
    remaining: int = 0
    pending: str | None = None
    retry_after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table.table_id,
            "written_by": self.table.writer,
            "exists": self.exists,
            "found": self.before,
            "deleted": self.deleted,
            "remaining": self.remaining,
            "pending": self.pending,
            "retry_after": self.retry_after,
        }


def _config(hashes: set[str]) -> Any:
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(
        query_parameters=[bigquery.ArrayQueryParameter("hashes", "STRING", sorted(hashes))]
    )


def _count(client: Any, table: Table, hashes: set[str]) -> int:
    sql = f"SELECT COUNT(*) AS n FROM `{table.table_id}` WHERE {table.match}"  # noqa: S608
    rows = list(client.query(sql, job_config=_config(hashes)).result(timeout=TIMEOUT_S))
    return int(rows[0]["n"]) if rows else 0


def erase_table(client: Any, table: Table, hashes: set[str], act: bool) -> TableResult:
    """Count the person's rows; with `act`, delete them and count again."""
    from google.api_core import exceptions

    result = TableResult(table)
    try:
        client.get_table(table.table_id)
        result.before = result.remaining = _count(client, table, hashes)
        if not act or not result.before:
            return result
        sql = f"DELETE FROM `{table.table_id}` WHERE {table.match}"  # noqa: S608
        try:
            job = client.query(sql, job_config=_config(hashes))
            job.result(timeout=TIMEOUT_S)
            result.deleted = int(job.num_dml_affected_rows or 0)
        except exceptions.BadRequest as exc:
            if STREAMING_BUFFER not in str(exc):
                raise
            result.pending = (
                f"rows still in the streaming buffer ({table.writer}); DML reaches them "
                "once they leave it"
            )
            result.retry_after = _iso(datetime.now(UTC) + BUFFER_RETRY)
        result.remaining = _count(client, table, hashes)
    except exceptions.NotFound:
        result.exists = False
    except exceptions.GoogleAPICallError as exc:
        raise CannotCheck(f"{table.table_id}: {google_error(exc)}") from None
    if result.remaining and not result.pending:
        result.pending = f"{result.remaining} row(s) still match after the DELETE"
    return result


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
