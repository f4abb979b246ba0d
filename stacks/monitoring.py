"""Monitoring: a log-based metric of the handlers' decisions, alert policies, a dashboard."""

from __future__ import annotations

import json
from typing import Any

from stacks import cdk
from stacks.config import Environment

DECISIONS_METRIC = "handler-decisions"
# Transactional sends whose outcome was unknown (a timeout after the request left), by what
# the handler did: `recorded` (first seen), `resent` (policy retry: a possible duplicate),
# `held` (policy hold: dead-lettered for a person to check). functions/transactional/README.md
UNKNOWN_OUTCOMES_METRIC = "transactional-unknown-outcomes"
# A new log-based metric can answer 404 to an alert policy for up to 10 minutes
# (hashicorp/terraform-provider-google#11102, open; cloud-foundation-fabric PR #3739).
METRIC_SETTLE = "600s"


class Monitoring(cdk.Construct):
    def __init__(
        self,
        scope: cdk.Construct,
        env: Environment,
        delivery_subscriptions: list[str],
        *,
        transactional: bool = False,
    ) -> None:
        """`delivery_subscriptions`: the names of subscriptions something consumes (push and
        BigQuery); dead-letter and quarantine pull subscriptions are held on purpose.
        `transactional`: a handler sends through the App API with claims (its metric, tile)."""
        super().__init__(scope, "monitoring")
        self.env = env
        self.transactional = transactional
        prefix = env.resource_name("")
        self.services = f'resource.labels.service_name=monitoring.regex.full_match("{prefix}.*")'
        self.decisions = self._field_count_metric(
            "decisions",
            DECISIONS_METRIC,
            "Handler decisions (delivered, retry, dead_lettered, quarantined, ...)",
            "decision",
            prefix,
        )
        if transactional:
            self._unknown_outcomes_metric(prefix)
        metric_ready = cdk.Sleep(
            self,
            "decisions-metric-settle",
            create_duration=METRIC_SETTLE,
            triggers={"metric": self.decisions.id},
        )
        user_metric = f"logging.googleapis.com/user/{env.resource_name(DECISIONS_METRIC)}"
        delivery = "|".join(sorted(delivery_subscriptions)) or "none"
        thresholds = env.monitoring
        self._alert(
            "dead-letters",
            "Dead letters waiting",
            "Messages are in a dead-letter subscription. Inspect with `cio-doctor dlq list "
            f"--env {env.name}`; replay after the fix with `cio-doctor dlq replay`.",
            'resource.type="pubsub_subscription" '
            'AND metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" '
            "AND resource.labels.subscription_id="
            f'monitoring.regex.full_match("{prefix}.*-dead-letter")',
            threshold=0,
            aligner="ALIGN_MAX",
        )
        self._alert(
            "error-rate",
            "Handler error rate high",
            "Handlers answer 5xx: Pub/Sub retries and may dead-letter. Run "
            f"`cio-doctor incident P2 --env {env.name}`.",
            'resource.type="cloud_run_revision" '
            'AND metric.type="run.googleapis.com/request_count" '
            f'AND metric.labels.response_code_class="5xx" AND {self.services}',
            threshold=thresholds.error_rate_threshold,
            aligner="ALIGN_RATE",
            denominator=(
                'resource.type="cloud_run_revision" '
                f'AND metric.type="run.googleapis.com/request_count" AND {self.services}'
            ),
        )
        self._alert(
            "latency",
            "Handler latency p99 high",
            "Customer.io or the handlers are slow; check `cio-doctor network`.",
            'resource.type="cloud_run_revision" '
            f'AND metric.type="run.googleapis.com/request_latencies" AND {self.services}',
            threshold=thresholds.latency_p99_ms_threshold,
            aligner="ALIGN_PERCENTILE_99",
        )
        self._alert(
            "oldest-unacked",
            "Oldest unacknowledged message is old",
            "Events back up in Pub/Sub (rate budget, outage, or a failing handler). Run "
            f"`cio-doctor incident P3 --env {env.name}`.",
            'resource.type="pubsub_subscription" '
            'AND metric.type="pubsub.googleapis.com/subscription/oldest_unacked_message_age" '
            f'AND resource.labels.subscription_id=monitoring.regex.full_match("{delivery}")',
            threshold=thresholds.oldest_unacked_seconds_threshold,
            aligner="ALIGN_MAX",
        )
        self._alert(
            "quarantine",
            "Webhook events quarantined",
            "Signed webhook events did not parse and went to the quarantine topic. Inspect "
            f"`{env.resource_name('webhook-quarantine')}` with `cio-doctor webhook`.",
            f'resource.type="cloud_run_revision" AND metric.type="{user_metric}" '
            'AND metric.labels.decision="quarantined"',
            threshold=0,
            aligner="ALIGN_SUM",
            depends_on=[self.decisions, metric_ready],
        )
        cdk.MonitoringDashboard(
            self,
            "dashboard",
            project=env.project_id,
            dashboard_json=json.dumps(self._dashboard(user_metric), sort_keys=True),
        )

    def _unknown_outcomes_metric(self, prefix: str) -> None:
        self._field_count_metric(
            "unknown-outcomes",
            UNKNOWN_OUTCOMES_METRIC,
            "Transactional sends whose outcome was unknown, by what the handler "
            "did (recorded, resent, held)",
            "unknown_outcome",
            prefix,
        )

    def _field_count_metric(
        self, id_: str, purpose: str, description: str, field: str, prefix: str
    ) -> cdk.LoggingMetric:
        """Counts the handlers' log lines that carry `jsonPayload.<field>`, by its value and
        by handler."""
        return cdk.LoggingMetric(
            self,
            id_,
            project=self.env.project_id,
            name=self.env.resource_name(purpose),
            description=description,
            filter=(
                'resource.type="cloud_run_revision" '
                f'AND resource.labels.service_name=~"^{prefix}" '
                f"AND jsonPayload.{field}:*"
            ),
            metric_descriptor={
                "metric_kind": "DELTA",
                "value_type": "INT64",
                "unit": "1",
                "labels": [
                    cdk.logging_metric.LoggingMetricMetricDescriptorLabels(
                        key=key, value_type="STRING"
                    )
                    for key in (field, "handler")
                ],
            },
            label_extractors={
                field: f"EXTRACT(jsonPayload.{field})",
                "handler": "EXTRACT(resource.labels.service_name)",
            },
        )

    def _alert(
        self,
        id_: str,
        title: str,
        runbook: str,
        filter_: str,
        *,
        threshold: float,
        aligner: str,
        denominator: str | None = None,
        depends_on: list[cdk.TerraformElement] | None = None,
    ) -> None:
        alert = cdk.monitoring_alert_policy
        aggregation: dict[str, Any] = {"alignment_period": "300s", "per_series_aligner": aligner}
        if denominator:
            aggregation["cross_series_reducer"] = "REDUCE_SUM"
            aggregation["group_by_fields"] = ["resource.labels.service_name"]
        condition: dict[str, Any] = {
            "filter": filter_,
            "comparison": "COMPARISON_GT",
            "threshold_value": threshold,
            "duration": "300s",
            "aggregations": [
                alert.MonitoringAlertPolicyConditionsConditionThresholdAggregations(**aggregation)
            ],
            "trigger": {"count": 1},
        }
        if denominator:
            condition["denominator_filter"] = denominator
            condition["denominator_aggregations"] = [
                alert.MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations(
                    **aggregation
                )
            ]
        cdk.MonitoringAlertPolicy(
            self,
            id_,
            project=self.env.project_id,
            display_name=f"{self.env.resource_name(id_)}: {title}",
            combiner="OR",
            conditions=[
                alert.MonitoringAlertPolicyConditions(
                    display_name=title, condition_threshold=condition
                )
            ],
            notification_channels=list(self.env.monitoring.notification_channels),
            documentation={"content": runbook, "mime_type": "text/markdown"},
            user_labels={"component": "monitoring"},
            severity="ERROR" if id_ in {"dead-letters", "error-rate"} else "WARNING",
            depends_on=depends_on,
        )

    def _dashboard(self, user_metric: str) -> dict[str, Any]:
        def chart(title: str, filter_: str, aligner: str, group_by: str) -> dict[str, Any]:
            query = {
                "filter": filter_,
                "aggregation": {
                    "alignmentPeriod": "60s",
                    "perSeriesAligner": aligner,
                    "crossSeriesReducer": "REDUCE_SUM",
                    "groupByFields": [group_by],
                },
            }
            return {
                "title": title,
                "xyChart": {"dataSets": [{"timeSeriesQuery": {"timeSeriesFilter": query}}]},
            }

        tiles = [
            chart(
                "Decisions", f'metric.type="{user_metric}"', "ALIGN_RATE", "metric.label.decision"
            ),
            chart(
                "Dead letters waiting",
                'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"',
                "ALIGN_MAX",
                "resource.label.subscription_id",
            ),
            chart(
                "Oldest unacked message age",
                'metric.type="pubsub.googleapis.com/subscription/oldest_unacked_message_age"',
                "ALIGN_MAX",
                "resource.label.subscription_id",
            ),
            chart(
                "Handler requests",
                f'metric.type="run.googleapis.com/request_count" AND {self.services}',
                "ALIGN_RATE",
                "metric.label.response_code_class",
            ),
        ]
        if self.transactional:
            name = self.env.resource_name(UNKNOWN_OUTCOMES_METRIC)
            unknown = f"logging.googleapis.com/user/{name}"
            tiles.append(
                chart(
                    "Transactional sends with an unknown outcome",
                    f'metric.type="{unknown}"',
                    "ALIGN_SUM",
                    "metric.label.unknown_outcome",
                )
            )
        return {
            "displayName": self.env.resource_name("overview"),
            "gridLayout": {"columns": "2", "widgets": tiles},
        }
