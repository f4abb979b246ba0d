"""The delivery ledger: a Cloud Logging sink routes the delivery handlers' decision lines into
BigQuery (`cio_<env>_ledger`), next to views that join them with Customer.io's reporting webhooks.

Nothing is added to the delivery hot path: the handlers already write one JSON line per decision
to stdout, which Cloud Run turns into a `run.googleapis.com/stdout` entry; the sink copies the
matching entries. What the export does, and how this module meets it
(cloud.google.com/logging/docs/export/bigquery, "BigQuery schema for logs"):

- The table is named after the log (`run_googleapis_com_stdout`) and, with partitioned tables,
  partitioned by `timestamp`. It is created here, with the export's own column names and types,
  so the views exist from the first apply (a view over a table the sink has not created yet
  fails to create) and no early line can fix a column's type: `jsonPayload` is a protobuf Struct,
  so every JSON number arrives as FLOAT, and the handlers keep each ledger field one JSON type
  (contract.LEDGER_LINE_FIELDS; field names already lowercase `[a-z_]`, which the export keeps).
- Retention is the dataset's default partition expiration (`bigquery.ledger_retention_days`),
  which also covers any table the sink creates itself; the table carries the same expiration.
- The sink writes with the legacy streaming API: billed per byte inserted, and rows stay in the
  streaming buffer (no UPDATE/DELETE) for up to about 90 minutes (cio-doctor erase retries them).
- The sink's writer identity gets `dataEditor` on this dataset only.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from cio_shared import contract

from stacks import cdk
from stacks.analytics import (
    DAY_MS,
    Analytics,
    bigquery_dataset,
    bigquery_view,
    dataset_readers,
    load_schema,
    load_views,
    partitioned_table,
)
from stacks.config import Environment

LEDGER_FOLDER = "ledger"
DELIVERY_DECISIONS = ("delivered", "retry", "dead_lettered")


def sink_filter(env: Environment, services: list[str]) -> str:
    """The decision lines of the delivery handlers' services, and nothing else (the webhook
    handler also logs decisions, of another kind)."""
    log = f"projects/{env.project_id}/logs/run.googleapis.com%2Fstdout"
    names = " OR ".join(f'"{name}"' for name in sorted(services))
    decisions = " OR ".join(f'"{d}"' for d in DELIVERY_DECISIONS)
    return "\n".join(
        [
            f'logName="{log}"',
            'resource.type="cloud_run_revision"',
            f"resource.labels.service_name=({names})",
            f"jsonPayload.decision=({decisions})",
        ]
    )


def view_order(views: dict[str, str]) -> list[str]:
    """Views in creation order: each after the ledger views its SQL reads."""
    done: list[str] = []
    pending = dict(views)
    while pending:
        ready = [n for n, sql in pending.items() if not set(reads(sql, pending)) - {n}]
        if not ready:
            raise ValueError(f"ledger views read each other in a cycle: {sorted(pending)}")
        for name in sorted(ready):
            done.append(name)
            del pending[name]
    return done


def reads(sql: str, names: dict[str, str] | list[str]) -> list[str]:
    return [n for n in names if re.search(rf"\$\{{ledger\}}\.{re.escape(n)}`", sql)]


class Ledger(cdk.Construct):
    def __init__(
        self,
        scope: cdk.Construct,
        env: Environment,
        analytics: Analytics,
        analytics_dir: Path,
        services: list[str],
    ) -> None:
        super().__init__(scope, "ledger")
        expiration_ms = env.bigquery.ledger_retention_days * DAY_MS
        self.dataset = bigquery_dataset(
            self,
            env,
            "dataset",
            contract.LEDGER_PURPOSE,
            "The delivery ledger: the handlers' decision lines (hashed person ids, no personal "
            "data), routed by a log sink; views join them with the webhook events",
            analytics.cmek,
            default_partition_expiration_ms=expiration_ms,
        )
        folder = analytics_dir / LEDGER_FOLDER
        self.table = partitioned_table(
            self,
            env,
            "table",
            self.dataset,
            contract.LEDGER_TABLE,
            "Written by the ledger log sink (Cloud Logging's export schema)",
            load_schema(folder, contract.LEDGER_TABLE),
            {"type": "DAY", "field": "timestamp", "expiration_ms": expiration_ms},
            analytics.cmek,
            component="ledger",
        )
        self.views = self._views(env, analytics, load_views(analytics_dir, LEDGER_FOLDER))
        # the ledger holds no personal data, but its views read the raw webhook events
        dataset_readers(self, env, "raw-reader", self.dataset, env.bigquery.raw_readers)
        self.sink = None
        if services:
            self.sink = cdk.LoggingProjectSink(
                self,
                "sink",
                project=env.project_id,
                name=env.resource_name("ledger"),
                description="Delivery handlers' decision lines -> the delivery ledger",
                destination=f"bigquery.googleapis.com/projects/{env.project_id}/datasets/"
                f"{env.dataset_name(contract.LEDGER_PURPOSE)}",
                filter=sink_filter(env, services),
                unique_writer_identity=True,
                bigquery_options={"use_partitioned_tables": True},
                depends_on=[self.table],
            )
            cdk.BigqueryDatasetIamMember(
                self,
                "sink-writer",
                project=env.project_id,
                dataset_id=self.dataset.dataset_id,
                role="roles/bigquery.dataEditor",
                member=self.sink.writer_identity,
            )

    def _views(
        self, env: Environment, analytics: Analytics, views: dict[str, str]
    ) -> dict[str, cdk.BigqueryTable]:
        made: dict[str, cdk.BigqueryTable] = {}
        for name in view_order(views):
            sql = views[name]
            query = Template(sql).substitute(
                project=env.project_id,
                dataset=env.dataset_name("analytics"),
                ledger=env.dataset_name(contract.LEDGER_PURPOSE),
            )
            after: list[cdk.TerraformElement] = [self.table, *analytics.views.values()]
            after += [made[n] for n in reads(sql, list(made))]
            made[name] = bigquery_view(self, env, name, self.dataset, query, after)
        return made
