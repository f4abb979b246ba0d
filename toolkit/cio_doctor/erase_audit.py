"""The erasure audit in BigQuery: one row per `--yes` run of a request, no personal data.

The latest row of a request is its state: a rerun continues from it. The dataset
`<prefix>_<env>_erasure` and its table come from the stack (stacks/erasure.py); where it has
not been applied yet they are created here, alike, in the environment's BigQuery location.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cio_shared.contract import ERASURE_AUDIT_TABLE, ERASURE_PURPOSE, erasure_audit_schema

from cio_doctor.config import EnvFile
from cio_doctor.erase_bigquery import TIMEOUT_S
from cio_doctor.findings import CannotCheck
from cio_doctor.gcloud import google_error
from cio_doctor.ledger import dataset_name

AUDIT_PURPOSE = ERASURE_PURPOSE
AUDIT_TABLE = ERASURE_AUDIT_TABLE


@dataclass
class AuditStore:
    client: Any
    table_id: str
    location: str | None = None
    _ready: bool = field(default=False, repr=False)

    @classmethod
    def for_env(cls, client: Any, env: EnvFile, location: str | None) -> AuditStore:
        table = f"{env.project_id}.{dataset_name(env, AUDIT_PURPOSE)}.{AUDIT_TABLE}"
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
            rows = list(self.client.query(sql, job_config=config).result(timeout=TIMEOUT_S))
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
            errors = self.client.insert_rows_json(self.table_id, [row], timeout=TIMEOUT_S)
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
            schema = [bigquery.SchemaField.from_api_repr(f) for f in erasure_audit_schema()]
            table = bigquery.Table(self.table_id, schema=schema)
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.MONTH, field="run_at"
            )
            self.client.create_table(table, exists_ok=True)
        except Exception as exc:
            raise CannotCheck(f"cannot create {self.table_id}: {google_error(exc)}") from None
        self._ready = True
