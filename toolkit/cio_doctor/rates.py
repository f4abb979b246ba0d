"""The observed Customer.io request rate, from the stacks' log-based metric of handler decisions.

The stacks count every handler decision in the metric
`logging.googleapis.com/user/<prefix>-<env>-handler-decisions` (labels `decision`, `handler`).
Decisions that reached Customer.io (delivered, retry, dead_lettered) per second are an upper
bound of Track API requests per second: v2 batches carry several events in one request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cio_doctor import google_rest
from cio_doctor.config import EnvFile
from cio_doctor.findings import CannotCheck, Report, Severity, running_check

DECISIONS_METRIC = "handler-decisions"
MONITORING = "https://monitoring.googleapis.com"
CALLING_DECISIONS = ("delivered", "retry", "dead_lettered")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def decision_rates(env: EnvFile, minutes: int = 10, timeout: float = 10.0) -> dict[str, float]:
    """Decisions per second over the last `minutes`, by decision, summed over handlers."""
    end = datetime.now(UTC)
    metric = f"logging.googleapis.com/user/{env.resource(DECISIONS_METRIC)}"
    params = {
        "filter": f'metric.type="{metric}"',
        "interval.startTime": _stamp(end - timedelta(minutes=minutes)),
        "interval.endTime": _stamp(end),
        "aggregation.alignmentPeriod": f"{minutes * 60}s",
        "aggregation.perSeriesAligner": "ALIGN_RATE",
        "aggregation.crossSeriesReducer": "REDUCE_SUM",
        "aggregation.groupByFields": "metric.labels.decision",
    }
    body = google_rest.get_json(
        "MONITORING_API_ENDPOINT",
        MONITORING,
        f"v3/projects/{env.project_id}/timeSeries",
        params,
        timeout,
    )
    rates: dict[str, float] = {}
    for series in body.get("timeSeries", []) if isinstance(body, dict) else []:
        decision = series.get("metric", {}).get("labels", {}).get("decision", "unknown")
        points = series.get("points", [])
        value = points[0].get("value", {}) if points else {}
        try:
            rate = float(value.get("doubleValue", value.get("int64Value", 0)))
        except (TypeError, ValueError):
            raise CannotCheck("Cloud Monitoring answered a point without a number") from None
        rates[decision] = rates.get(decision, 0.0) + rate
    return rates


def observed_rate(env: EnvFile, minutes: int = 10, timeout: float = 10.0) -> float:
    """Decisions that reached Customer.io, per second (an upper bound of requests/s)."""
    rates = decision_rates(env, minutes, timeout)
    return sum(rate for decision, rate in rates.items() if decision in CALLING_DECISIONS)


def error_rate(rates: dict[str, float]) -> float | None:
    """retry + dead_lettered over all decisions that reached Customer.io."""
    calling = sum(rate for decision, rate in rates.items() if decision in CALLING_DECISIONS)
    if not calling:
        return None
    return (rates.get("retry", 0.0) + rates.get("dead_lettered", 0.0)) / calling


def error_rate_report(env: EnvFile, timeout: float = 10.0) -> Report:
    """The handlers' decisions over the last 10 minutes against the alert threshold."""
    report = Report("decisions", env.name)
    with running_check("handler decisions") as check:
        per_second = decision_rates(env, timeout=timeout)
        ratio = error_rate(per_second)
        check.data["per_second_last_10_min"] = {k: round(v, 3) for k, v in per_second.items()}
        check.data["error_rate"] = None if ratio is None else round(ratio, 4)
        check.data["threshold"] = env.error_rate_threshold
        if ratio is None:
            check.add(
                Severity.INFO,
                "no_deliveries",
                "no deliveries in the last 10 minutes",
                "",
                "If producers are publishing, check the push subscriptions.",
            )
        elif ratio > env.error_rate_threshold:
            check.add(
                Severity.HIGH,
                "error_rate_high",
                f"{ratio:.1%} of deliveries are retried or dead-lettered "
                f"(threshold {env.error_rate_threshold:.0%})",
                ", ".join(f"{k}={v:.2f}/s" for k, v in sorted(per_second.items())),
                "The dead-letter reasons and the credentials probe say why.",
            )
    report.checks.append(check)
    return report
