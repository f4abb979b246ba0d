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
from cio_doctor.findings import CannotCheck

DECISIONS_METRIC = "handler-decisions"
MONITORING = "https://monitoring.googleapis.com"
_CALLING_DECISIONS = ("delivered", "retry", "dead_lettered")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def observed_rate(env: EnvFile, minutes: int = 10, timeout: float = 10.0) -> float:
    """Decisions per second over the last `minutes`, summed over handlers."""
    end = datetime.now(UTC)
    metric = f"logging.googleapis.com/user/{env.resource(DECISIONS_METRIC)}"
    decisions = ", ".join(f'"{d}"' for d in _CALLING_DECISIONS)
    params = {
        "filter": f'metric.type="{metric}" AND metric.labels.decision=one_of({decisions})',
        "interval.startTime": _stamp(end - timedelta(minutes=minutes)),
        "interval.endTime": _stamp(end),
        "aggregation.alignmentPeriod": f"{minutes * 60}s",
        "aggregation.perSeriesAligner": "ALIGN_RATE",
        "aggregation.crossSeriesReducer": "REDUCE_SUM",
    }
    body = google_rest.get_json(
        "MONITORING_API_ENDPOINT",
        MONITORING,
        f"v3/projects/{env.project_id}/timeSeries",
        params,
        timeout,
    )
    series = body.get("timeSeries", []) if isinstance(body, dict) else []
    if not series:
        return 0.0
    points = series[0].get("points", [])
    if not points:
        return 0.0
    value = points[0].get("value", {})
    try:
        return float(value.get("doubleValue", value.get("int64Value", 0)))
    except (TypeError, ValueError):
        raise CannotCheck("Cloud Monitoring answered a point without a number") from None
