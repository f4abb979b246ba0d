"""Parse a reporting-webhook body: count events, flag per-event errors, measure delivery lag.

The catalog of object types and metrics is the webhook handler's (cio_shared.webhooks.events),
taken from Customer.io's reporting-webhooks document, so the toolkit and the handler agree on
what is quarantined.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from cio_shared.webhooks import (
    METRICS_BY_OBJECT_TYPE,
    SUBSCRIPTION_METRICS,
    TOP_LEVEL_FIELDS,
)

from cio_doctor.findings import Check, Severity

BACKLOG_WARN_S = 15 * 60
# Customer.io retries a failed webhook for seven days: no delivery lags more than that.
RETRY_WINDOW_S = 7 * 86400


def events_of(body: bytes) -> list[Any]:
    """The events in a body: one object, or a JSON array of them."""
    parsed = json.loads(body)
    return parsed if isinstance(parsed, list) else [parsed]


def event_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["not a JSON object"]
    errors = [f"missing {name}" for name in TOP_LEVEL_FIELDS if name not in event]
    object_type, metric = event.get("object_type"), event.get("metric")
    known = METRICS_BY_OBJECT_TYPE.get(str(object_type))
    if "object_type" in event and known is None:
        errors.append(f"unknown object_type {object_type!r}")
    elif known is not None and "metric" in event and metric not in known | SUBSCRIPTION_METRICS:
        errors.append(f"unknown metric {metric!r} for {object_type}")
    if "timestamp" in event and not isinstance(event["timestamp"], int):
        errors.append("timestamp is not an integer Unix time")
    if "data" in event and not isinstance(event["data"], dict):
        errors.append("data is not an object")
    return errors


def analyse(check: Check, body: bytes, delivered_at: int | None) -> None:
    """Fill `check` with counts, per-event errors and lags (event time -> delivery time)."""
    try:
        events = events_of(body)
    except ValueError as exc:
        check.add(
            Severity.HIGH,
            "body_not_json",
            "body is not JSON",
            str(exc)[:200],
            "Check the capture: the body must be the raw bytes Customer.io sent.",
        )
        return
    counts: Counter[tuple[str, str]] = Counter()
    problems: list[dict[str, Any]] = []
    lags: list[int] = []
    ids: Counter[str] = Counter()
    for index, event in enumerate(events):
        errors = event_errors(event)
        if isinstance(event, dict):
            counts[(str(event.get("object_type")), str(event.get("metric")))] += 1
            if isinstance(event.get("event_id"), str):
                ids[event["event_id"]] += 1
            if delivered_at is not None and isinstance(event.get("timestamp"), int):
                lags.append(delivered_at - event["timestamp"])
        if errors:
            problems.append({"index": index, "event_id": _event_id(event), "errors": errors})
    check.data["events"] = len(events)
    check.data["by_type_and_metric"] = [
        {"object_type": t, "metric": m, "count": n} for (t, m), n in sorted(counts.items())
    ]
    if problems:
        check.data["event_errors"] = problems
        check.add(
            Severity.MEDIUM,
            "event_invalid",
            f"{len(problems)} of {len(events)} event(s) do not match Customer.io's schema",
            "; ".join(f"#{p['index']}: {', '.join(p['errors'])}" for p in problems[:5]),
            "The handler quarantines such events (it must not answer an error); inspect "
            "them with `cio-doctor dlq list --subscription webhook-quarantine`.",
        )
    duplicates = sorted(i for i, n in ids.items() if n > 1)
    if duplicates:
        check.add(
            Severity.INFO,
            "duplicate_event_ids",
            f"{len(duplicates)} event id(s) appear more than once",
            "Customer.io retries deliveries; consumers must deduplicate by event_id.",
        )
    if lags:
        _timing(check, lags)


def humanize(seconds: int) -> str:
    """A duration for people: 45 s, 12 min, 5 h 3 min, 2118 d 4 h."""
    left = abs(seconds)
    if left < 60:
        return f"{left} s"
    if left < 3600:
        return f"{left // 60} min"
    if left < 86400:
        return f"{left // 3600} h {left % 3600 // 60} min"
    return f"{left // 86400} d {left % 86400 // 3600} h"


def _timing(check: Check, lags: list[int]) -> None:
    lags.sort()
    check.data["lag_seconds"] = {"min": lags[0], "median": lags[len(lags) // 2], "max": lags[-1]}
    check.data["lag"] = {k: humanize(v) for k, v in check.data["lag_seconds"].items()}
    within = [lag for lag in lags if lag <= RETRY_WINDOW_S]
    if within and within[-1] > BACKLOG_WARN_S:
        check.add(
            Severity.MEDIUM,
            "delivery_backlog",
            f"events arrived up to {humanize(within[-1])} after they happened",
            "Customer.io holds back later webhooks until a failed delivery succeeds, for "
            "up to seven days.",
            "Find the failed delivery: check the webhook handler's errors and latency "
            "(it must answer 2xx within 4 s).",
        )
    if lags[-1] > RETRY_WINDOW_S:
        check.add(
            Severity.LOW,
            "event_older_than_retries",
            f"events are stamped up to {humanize(lags[-1])} before the delivery: longer than "
            "Customer.io retries, so not a delivery backlog",
            "Customer.io gives up on a webhook after seven days, so none arrives this late. "
            "Either the request was signed again later (a replay: X-CIO-Timestamp is the time "
            "of the replay, the event keeps its own time) or the event's timestamp is not when "
            "it happened (a test or example payload with a fixed timestamp).",
            "Check where the capture came from. A replay needs nothing; for live traffic, "
            "compare the event's timestamp with the message it reports on.",
        )
    if lags[0] < -60:
        check.add(
            Severity.LOW,
            "event_in_future",
            f"an event is stamped {humanize(lags[0])} after the delivery timestamp",
            "Clock skew between the capture and Customer.io.",
        )


def _event_id(event: Any) -> str | None:
    return event.get("event_id") if isinstance(event, dict) else None
