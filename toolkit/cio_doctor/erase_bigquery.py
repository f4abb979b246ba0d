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

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_shared.contract import LEDGER_PURPOSE, LEDGER_TABLE

from cio_doctor.config import EnvFile
from cio_doctor.findings import CannotCheck
from cio_doctor.gcloud import google_error

STREAMING_BUFFER = "streaming buffer"
BUFFER_RETRY = timedelta(minutes=90)  # the documented longest stay in the streaming buffer
_TIMEOUT_S = 120


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


def dataset(env: EnvFile, purpose: str) -> str:
    """`<prefix>_<env>_<purpose>`, as the stacks name datasets."""
    return env.resource(purpose).replace("-", "_")


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
            f"{project}.{dataset(env, 'analytics')}.webhook_events",
            WEBHOOK_MATCH,
            "Storage Write API (BigQuery subscription)",
        ),
        Table(
            "bigquery.ledger",
            f"{project}.{dataset(env, LEDGER_PURPOSE)}.{LEDGER_TABLE}",
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
    rows = list(client.query(sql, job_config=_config(hashes)).result(timeout=_TIMEOUT_S))
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
            job.result(timeout=_TIMEOUT_S)
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


# --- The audit table: one row per run of a request, no personal data ----------------------
AUDIT_PURPOSE = "erasure"
AUDIT_TABLE = "erasure_audit"
AUDIT_SCHEMA = (
    ("request_id", "STRING", "REQUIRED", "er_ + a prefix of the person hash; stable per person"),
    ("run_at", "TIMESTAMP", "REQUIRED", "when this run finished"),
    ("person_hash", "STRING", "REQUIRED", "SHA-256 of kind:value of the identifier given"),
    ("mode", "STRING", "REQUIRED", "suppress or delete"),
    ("requested_by", "STRING", "NULLABLE", "who ran it (operator account)"),
    ("status", "STRING", "REQUIRED", "complete or pending"),
    ("removed", "STRING", "NULLABLE", "JSON: location -> what this request removed so far"),
    ("pending", "STRING", "REPEATED", "locations not finished yet"),
    ("state", "STRING", "NULLABLE", "JSON: what a rerun continues from (hashes only)"),
)


@dataclass
class AuditStore:
    client: Any
    table_id: str
    location: str | None = None
    _ready: bool = field(default=False, repr=False)

    @classmethod
    def for_env(cls, client: Any, env: EnvFile, location: str | None) -> AuditStore:
        table = f"{env.project_id}.{dataset(env, AUDIT_PURPOSE)}.{AUDIT_TABLE}"
        return cls(client, table, location)

    def latest(self, request_id: str) -> dict[str, Any] | None:
        """The last run's state of a request, None for a new one (or no audit table yet)."""
        from google.api_core import exceptions
        from google.cloud import bigquery

        sql = (
            f"SELECT state FROM `{self.table_id}` WHERE request_id = @r "  # noqa: S608
            "ORDER BY run_at DESC LIMIT 1"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("r", "STRING", request_id)]
        )
        try:
            rows = list(self.client.query(sql, job_config=config).result(timeout=_TIMEOUT_S))
        except exceptions.NotFound:
            return None
        except exceptions.GoogleAPICallError as exc:
            raise CannotCheck(f"cannot read {self.table_id}: {google_error(exc)}") from None
        if not rows or not rows[0]["state"]:
            return None
        state = json.loads(rows[0]["state"])
        return state if isinstance(state, dict) else None

    def append(self, row: dict[str, Any]) -> None:
        self._ensure()
        try:
            errors = self.client.insert_rows_json(self.table_id, [row], timeout=_TIMEOUT_S)
        except Exception as exc:
            raise CannotCheck(f"cannot write the audit row: {google_error(exc)}") from None
        if errors:
            raise CannotCheck(f"the audit row was refused: {json.dumps(errors)[:300]}")

    def _ensure(self) -> None:
        """Create the audit dataset and table when missing (no personal data in either)."""
        if self._ready:
            return
        from google.cloud import bigquery

        dataset_id = self.table_id.rsplit(".", 1)[0]
        ds = bigquery.Dataset(dataset_id)
        ds.location = self.location
        ds.description = "Erasure audit: one row per run of a request, hashes only"
        try:
            self.client.create_dataset(ds, exists_ok=True)
            schema = [
                bigquery.SchemaField(n, t, mode=m, description=d) for n, t, m, d in AUDIT_SCHEMA
            ]
            self.client.create_table(bigquery.Table(self.table_id, schema=schema), exists_ok=True)
        except Exception as exc:
            raise CannotCheck(f"cannot create {self.table_id}: {google_error(exc)}") from None
        self._ready = True
