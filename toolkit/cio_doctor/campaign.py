"""`cio-doctor campaign ID`: will this campaign send, to whom, and how are its sends doing.

Read-only App API calls: the campaign (state, trigger, filters, actions), its metrics over the
last days, per-action sending state, metrics and delivery errors, recent messages, and its
trigger segments.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cio_doctor.app_lookup import (
    body_or_note,
    last_metric,
    parallel,
    rows,
    stop_on_access_problem,
    when,
)
from cio_doctor.cio_http import CioClient
from cio_doctor.findings import Check, Report, Severity, running_check

METRIC_DAYS = 7
BOUNCE_HIGH, BOUNCE_MEDIUM = 0.05, 0.02
SPAM_HIGH = 0.001
STATE_FINDINGS = {
    "paused": (
        Severity.HIGH,
        "campaign is paused: nothing is sent, triggers are not queued",
        "Resume it in Customer.io once the reason for the pause is resolved.",
    ),
    "stopped": (
        Severity.HIGH,
        "campaign is stopped: it no longer sends",
        "Stopped campaigns cannot be resumed; duplicate it if it should run.",
    ),
    "draft": (
        Severity.MEDIUM,
        "campaign is a draft: it has never started",
        "Start it in Customer.io.",
    ),
}


def _totals(series: dict[str, Any]) -> dict[str, int]:
    return {
        name: sum(int(v) for v in values)
        for name, values in series.items()
        if isinstance(values, list)
    }


def _metric_findings(check: Check, totals: dict[str, int]) -> None:
    sent = totals.get("sent", 0)
    check.data[f"metrics_last_{METRIC_DAYS}_days"] = totals
    if sent == 0:
        return
    bounce = totals.get("bounced", 0) / sent
    spam = totals.get("spammed", 0) / sent
    failed = totals.get("failed", 0) + totals.get("undeliverable", 0)
    check.data["rates"] = {
        "bounce": round(bounce, 4),
        "spam": round(spam, 5),
        "failed": round(failed / sent, 4),
    }
    if bounce >= BOUNCE_MEDIUM:
        check.add(
            Severity.HIGH if bounce >= BOUNCE_HIGH else Severity.MEDIUM,
            "bounce_rate_high",
            f"bounce rate {bounce:.1%} over the last {METRIC_DAYS} days",
            "Email providers throttle or block senders with high bounce rates.",
            "Check the audience's addresses (list source, typos) and pause if it keeps rising.",
        )
    if spam >= SPAM_HIGH:
        check.add(
            Severity.HIGH,
            "spam_rate_high",
            f"spam complaint rate {spam:.2%}",
            "Above 0.1% mailbox providers start filtering.",
            "Review the audience's consent and the unsubscribe link.",
        )
    if failed:
        check.add(
            Severity.MEDIUM,
            "delivery_failures",
            f"{failed} failed or undeliverable sends",
            "",
            "See the per-action delivery errors below.",
        )


def _failures_by_action(failed: list[dict[str, Any]]) -> dict[Any, list[str]]:
    """Failure messages of the campaign's failed deliveries, grouped by action id."""
    grouped: dict[Any, list[str]] = {}
    for message in failed:
        text = message.get("failure_message") or "failed (no failure message)"
        grouped.setdefault(message.get("action_id"), []).append(str(text))
    return grouped


def _error_reason(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("reason") or error.get("message") or error)
    return str(error)


def _error_count(error: Any) -> int:
    """An action's delivery error may stand for several deliveries (`count`)."""
    count = error.get("count") if isinstance(error, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1


def _actions(check: Check, actions: list[dict[str, Any]], failed: list[dict[str, Any]]) -> None:
    """Per action: sending state, metrics, and delivery errors (the action's own list where the
    API gives one, and the failure messages of its recent failed deliveries)."""
    table = []
    failures = _failures_by_action(failed)
    for action in actions:
        reasons: Counter[str] = Counter()
        for e in action.get("delivery_errors") or []:
            reasons[_error_reason(e)] += _error_count(e)
        reasons.update(failures.get(action.get("id"), []))
        errors = list(reasons.elements())
        table.append(
            {
                "id": action.get("id"),
                "name": action.get("name"),
                "type": action.get("type"),
                "sending_state": action.get("sending_state"),
                "metrics": action.get("metrics") or None,
                "delivery_errors": len(errors),
            }
        )
        if action.get("sending_state") in ("draft", "off"):
            check.add(
                Severity.MEDIUM,
                "action_not_sending",
                f"action {action.get('id')} ({action.get('name')}) is "
                f"{action.get('sending_state')}",
                "Messages of this action are drafted or skipped, not sent.",
                "Set the action to send automatically if it should.",
            )
        if errors:
            check.add(
                Severity.HIGH,
                "action_delivery_errors",
                f"action {action.get('id')} ({action.get('name')}): {len(errors)} delivery "
                "error(s)",
                "; ".join(f"{r} x{n}" for r, n in reasons.most_common(3)),
                "Fix the template or the audience data the errors name.",
            )
    check.data["actions"] = table


def _recent(check: Check, messages: list[dict[str, Any]]) -> None:
    check.data["recent_sends"] = rows(
        messages,
        lambda m: {
            "id": m.get("id"),
            "action_id": m.get("action_id"),
            "created": when(m.get("created")),
            "state": last_metric(m.get("metrics") or {}),
            "failure": m.get("failure_message"),
        },
    )
    failures = Counter(str(m.get("failure_message")) for m in messages if m.get("failure_message"))
    if failures:
        check.data["failure_messages"] = [
            {"failure": f, "count": n} for f, n in failures.most_common(5)
        ]


def _audience(client: CioClient, check: Check, segment_ids: list[int]) -> None:
    audience = []
    for segment_id in segment_ids[:5]:
        calls = parallel(
            client,
            {
                "segment": (f"/v1/segments/{segment_id}", {}),
                "members": (f"/v1/segments/{segment_id}/membership", {"limit": "1000"}),
            },
        )
        segment = body_or_note(check, calls["segment"], f"segment {segment_id}", "segment") or {}
        members = calls["members"].json() if calls["members"].ok else {}
        count = len((members or {}).get("identifiers") or [])
        more = bool((members or {}).get("next"))
        audience.append(
            {
                "segment_id": segment_id,
                "name": segment.get("name"),
                "state": segment.get("state"),
                "members": f"{count}+" if more else count,
            }
        )
        if count == 0 and calls["members"].ok:
            check.add(
                Severity.MEDIUM,
                "audience_empty",
                f"trigger segment {segment_id} is empty",
                "A segment-triggered campaign sends to no one.",
                "Check the segment's conditions and that identify events arrive.",
            )
    check.data["audience"] = audience


def diagnose(client: CioClient, campaign_id: int) -> Report:
    report = Report("campaign", str(campaign_id))
    with running_check("campaign") as check:
        base = f"/v1/campaigns/{campaign_id}"
        call = client.get(base)
        stop_on_access_problem(call, "reading the campaign")
        if call.status == 404:
            check.add(
                Severity.HIGH,
                "campaign_not_found",
                f"campaign {campaign_id} not found",
                "Wrong id, another workspace, or the wrong region (us/eu).",
                "Find the id in the campaign's URL in Customer.io.",
            )
        else:
            _campaign(
                client,
                check,
                base,
                body_or_note(check, call, "the campaign", "campaign") or {},
                campaign_id,
            )
    report.checks.append(check)
    return report


def _campaign(
    client: CioClient, check: Check, base: str, campaign: dict[str, Any], campaign_id: int
) -> None:
    state = campaign.get("state") or ("running" if campaign.get("active") else "unknown")
    check.data.update(
        {
            "name": campaign.get("name"),
            "state": state,
            "type": campaign.get("type"),
            "trigger": {
                "event_name": campaign.get("event_name"),
                "segment_ids": campaign.get("trigger_segment_ids") or [],
                "filter_segment_ids": campaign.get("filter_segment_ids") or [],
            },
            "first_started": when(campaign.get("first_started")),
            "updated": when(campaign.get("updated")),
        }
    )
    if state in STATE_FINDINGS:
        severity, title, step = STATE_FINDINGS[state]
        check.add(severity, f"campaign_{state}", title, "", step)
    calls = parallel(
        client,
        {
            "metrics": (
                f"{base}/metrics",
                {"version": "2", "steps": str(METRIC_DAYS), "period": "days"},
            ),
            "actions": (f"{base}/actions", {}),
            "messages": ("/v1/messages", {"campaign_id": str(campaign_id), "limit": "20"}),
            "failed": (
                "/v1/messages",
                {"campaign_id": str(campaign_id), "metric": "failed", "limit": "100"},
            ),
        },
    )
    metric = body_or_note(check, calls["metrics"], "campaign metrics", "metric") or {}
    _metric_findings(check, _totals(metric.get("series") or {}))
    failed = body_or_note(check, calls["failed"], "failed sends", "messages") or []
    _actions(
        check, body_or_note(check, calls["actions"], "campaign actions", "actions") or [], failed
    )
    _recent(check, body_or_note(check, calls["messages"], "recent sends", "messages") or [])
    if state == "running" and not check.data.get("recent_sends"):
        check.add(
            Severity.LOW,
            "no_recent_sends",
            "running, but no messages sent recently",
            "An event-triggered campaign sends only when its event arrives.",
            "Check that the trigger event reaches Customer.io (`cio-doctor user ID` shows "
            "a person's recent events).",
        )
    segment_ids = [int(s) for s in check.data["trigger"]["segment_ids"]]
    if segment_ids:
        _audience(client, check, segment_ids)
