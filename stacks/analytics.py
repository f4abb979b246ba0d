"""BigQuery: the webhook-events table (schema and views from analytics/), and the BigQuery
subscription that writes webhook events into it with no code in between.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template

from stacks import cdk, locations
from stacks.config import Environment
from stacks.event_bus import EventBus
from stacks.naming import days, lifecycle

TABLE = "webhook_events"
METADATA_COLUMNS = {"subscription_name", "message_id", "publish_time", "attributes"}
DAY_MS = 86_400_000


class AnalyticsFilesError(FileNotFoundError):
    pass


def load_schema(analytics_dir: Path, table: str) -> list[dict[str, object]]:
    path = analytics_dir / f"{table}.schema.json"
    if not path.exists():
        raise AnalyticsFilesError(f"{path}: the table schema is missing")
    schema = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(schema, list):
        raise AnalyticsFilesError(f"{path}: expected a BigQuery JSON schema (a list of fields)")
    return schema


def load_views(analytics_dir: Path, folder: str = "views") -> dict[str, str]:
    """View name -> SQL template (placeholders `${project}` and `${dataset}`, the raw one).

    `views/` are created beside the raw table (personal data: raw readers only);
    `reporting/` in the reporting dataset, as views authorized on the raw dataset, for the
    analytics readers: they select no personal field.
    """
    return {
        p.stem: p.read_text(encoding="utf-8") for p in sorted(analytics_dir.glob(f"{folder}/*.sql"))
    }


class Analytics(cdk.Construct):
    def __init__(
        self, scope: cdk.Construct, env: Environment, bus: EventBus, analytics_dir: Path
    ) -> None:
        super().__init__(scope, "analytics")
        self.env = env
        key = env.kms_key_for(
            "bigquery", locations.kms_location_for_bigquery(env.bigquery.location)
        )
        cmek = {"kms_key_name": key} if key else None
        self.cmek = cmek
        self.views: dict[str, cdk.BigqueryTable] = {}
        self.dataset = bigquery_dataset(
            self,
            env,
            "dataset",
            "analytics",
            "Customer.io reporting webhook events (personal data: raw_readers only)",
            cmek,
        )
        self.reporting = bigquery_dataset(
            self,
            env,
            "reporting-dataset",
            "reporting",
            "Views of the webhook events without personal data (analytics readers)",
            cmek,
        )
        schema = load_schema(analytics_dir, TABLE)
        expiration = env.bigquery.partition_expiration_days
        self.table = partitioned_table(
            self,
            env,
            "webhook-events",
            self.dataset,
            TABLE,
            "One row per webhook delivery; duplicates expected (dedupe by event_id)",
            schema,
            {
                "type": env.bigquery.partitioning,
                "field": "timestamp",
                "expiration_ms": expiration * DAY_MS if expiration else None,
            },
            cmek,
            clustering=["metric", "object_type"],
        )
        for name, sql in load_views(analytics_dir).items():
            self._view(name, sql, self.dataset)
        for name, sql in load_views(analytics_dir, "reporting").items():
            view = self._view(name, sql, self.reporting)
            # An authorized view: it reads the raw dataset for its readers, who cannot.
            cdk.BigqueryDatasetAccess(
                self,
                f"authorize-{name}",
                project=env.project_id,
                dataset_id=self.dataset.dataset_id,
                view={
                    "project_id": env.project_id,
                    "dataset_id": self.reporting.dataset_id,
                    "table_id": view.table_id,
                },
            )
        self._readers("reader", self.reporting, env.bigquery.readers)
        self._readers("raw-reader", self.dataset, env.bigquery.raw_readers)
        writer = cdk.BigqueryDatasetIamMember(
            self,
            "agent-writer",
            project=env.project_id,
            dataset_id=self.dataset.dataset_id,
            role="roles/bigquery.dataEditor",
            member=f"serviceAccount:{bus.pubsub_agent}",
        )
        columns = {str(field["name"]) for field in schema}
        self.subscription = cdk.PubsubSubscription(
            self,
            "subscription",
            project=env.project_id,
            name=env.resource_name("webhook-events-bq"),
            topic=bus.topics["webhook-events"].id,
            message_retention_duration=days(env.pubsub.message_retention_days),
            expiration_policy={"ttl": ""},
            bigquery_config={
                "table": f"{env.project_id}.{env.dataset_name('analytics')}.{TABLE}",
                "use_table_schema": True,
                "drop_unknown_fields": True,
                "write_metadata": columns >= METADATA_COLUMNS,
            },
            dead_letter_policy=bus.dead_letter_policy("webhook-events"),
            labels={"component": "analytics"},
            depends_on=[writer, self.table],
        )
        bus.grant_agent_subscriber(self, self.subscription)

    def _view(self, name: str, sql: str, dataset: cdk.BigqueryDataset) -> cdk.BigqueryTable:
        query = Template(sql).substitute(
            project=self.env.project_id, dataset=self.env.dataset_name("analytics")
        )
        view = bigquery_view(self, self.env, name, dataset, query, [self.table])
        self.views[name] = view
        return view

    def _readers(self, id_: str, dataset: cdk.BigqueryDataset, readers: list[str]) -> None:
        dataset_readers(self, self.env, id_, dataset, readers)


# Deleted rows stay recoverable through time travel for this long, then 7 days of fail-safe:
# 48 hours is BigQuery's minimum (cloud.google.com/bigquery/docs/time-travel), so an erasure
# (cio-doctor erase) leaves the shortest residual window BigQuery allows.
TIME_TRAVEL_HOURS = "48"


def bigquery_dataset(
    scope: cdk.Construct,
    env: Environment,
    id_: str,
    purpose: str,
    description: str,
    cmek: dict[str, str] | None,
    default_partition_expiration_ms: int | None = None,
) -> cdk.BigqueryDataset:
    """A dataset `cio_<env>_<purpose>` in the environment's BigQuery location."""
    return cdk.BigqueryDataset(
        scope,
        id_,
        project=env.project_id,
        dataset_id=env.dataset_name(purpose),
        location=env.bigquery.location,
        description=description,
        delete_contents_on_destroy=not env.protected,
        default_encryption_configuration=cmek,
        max_time_travel_hours=TIME_TRAVEL_HOURS,
        labels={"component": "analytics"},
        lifecycle=lifecycle(env),
        default_partition_expiration_ms=default_partition_expiration_ms,
    )


def partitioned_table(
    scope: cdk.Construct,
    env: Environment,
    id_: str,
    dataset: cdk.BigqueryDataset,
    table_id: str,
    description: str,
    schema: Sequence[Mapping[str, object]],
    time_partitioning: dict[str, object],
    cmek: dict[str, str] | None,
    component: str = "analytics",
    clustering: list[str] | None = None,
) -> cdk.BigqueryTable:
    """A table with a JSON schema and time partitioning, protected where the environment is."""
    return cdk.BigqueryTable(
        scope,
        id_,
        project=env.project_id,
        dataset_id=dataset.dataset_id,
        table_id=table_id,
        description=description,
        schema=json.dumps(schema),
        time_partitioning=time_partitioning,
        clustering=clustering,
        deletion_protection=env.protected,
        encryption_configuration=cmek,
        labels={"component": component},
        lifecycle=lifecycle(env),
    )


def bigquery_view(
    scope: cdk.Construct,
    env: Environment,
    name: str,
    dataset: cdk.BigqueryDataset,
    query: str,
    depends_on: list[cdk.TerraformElement],
) -> cdk.BigqueryTable:
    return cdk.BigqueryTable(
        scope,
        f"view-{name}",
        project=env.project_id,
        dataset_id=dataset.dataset_id,
        table_id=name,
        view={"query": query, "use_legacy_sql": False},
        deletion_protection=env.protected,
        labels={"component": "analytics"},
        depends_on=depends_on,
    )


def dataset_readers(
    scope: cdk.Construct,
    env: Environment,
    id_: str,
    dataset: cdk.BigqueryDataset,
    readers: list[str],
) -> None:
    for index, reader in enumerate(readers):
        cdk.BigqueryDatasetIamMember(
            scope,
            f"{id_}-{index}",
            project=env.project_id,
            dataset_id=dataset.dataset_id,
            role="roles/bigquery.dataViewer",
            member=reader,
        )
