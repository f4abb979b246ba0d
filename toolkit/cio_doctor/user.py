"""`cio-doctor user ID|EMAIL`: is this person reachable, and if not, why.

Read-only App API calls: the person's attributes and identifiers, email-provider suppressions
(bounces, spam complaints, blocks, invalid addresses), recent messages and activities, and
segments. Ends with findings ranked by severity.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cio_shared.common import redact_email

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

FAILED_METRICS = ("bounced", "dropped", "failed", "spammed", "undeliverable")
SUPPRESSION_SEVERITY = {
    "bounces": (Severity.HIGH, "hard bounce: the provider no longer sends to this address"),
    "spam": (Severity.HIGH, "spam complaint: the person marked a message as spam"),
    "blocks": (Severity.MEDIUM, "blocked by the recipient's mail server"),
    "invalid_emails": (Severity.HIGH, "the address is invalid"),
}
MESSAGES_SHOWN = 10


def _locate(
    client: CioClient, check: Check, who: str, id_type: str | None
) -> dict[str, str] | None:
    """(id_type, value) that addresses the person, or None when nobody matches."""
    kind = id_type or ("email" if "@" in who else "id")
    if kind != "email":
        return {"id_type": kind, "value": who}
    call = client.get("/v1/customers", {"email": who})
    stop_on_access_problem(call, "looking up the email")
    results = (call.json() or {}).get("results", []) if call.ok else []
    if not results:
        return None
    if len(results) > 1:
        check.add(
            Severity.MEDIUM,
            "email_not_unique",
            f"{len(results)} people share this email address",
            "Messages go to each of them; identify calls by email may update the wrong one.",
            "Merge the duplicates (Track API merge_customers) or make email unique.",
        )
    first = results[0]
    if first.get("cio_id"):
        return {"id_type": "cio_id", "value": str(first["cio_id"])}
    return {"id_type": "id", "value": str(first.get("id"))}


def _not_found(check: Check, who: str) -> None:
    check.add(
        Severity.HIGH,
        "person_not_found",
        "no person matches",
        f"{redact_email(who)} is unknown to the workspace: never identified, identified "
        "under another id, deleted, or suppressed (Customer.io deletes a suppressed person "
        "and answers 200 to later identify calls for that identifier, without creating it).",
        "Check the identify dead letters (`cio-doctor dlq list`), the producer's id, and "
        "whether the person was suppressed in the Customer.io UI.",
    )


def _profile(check: Check, customer: dict[str, Any]) -> str | None:
    attributes = customer.get("attributes") or {}
    identifiers = customer.get("identifiers") or {}
    email = identifiers.get("email") or attributes.get("email")
    check.data["identifiers"] = {
        k: redact_email(str(v)) if v else None for k, v in identifiers.items()
    }
    check.data["has_email"] = bool(email)
    check.data["unsubscribed"] = bool(customer.get("unsubscribed"))
    check.data["created_at"] = when(_int(attributes.get("created_at")))
    check.data["attribute_count"] = len(attributes)
    check.data["attributes_updated"] = _latest_updates(customer.get("timestamps") or {})
    check.data["devices"] = len(customer.get("devices") or [])
    if not email:
        check.add(
            Severity.MEDIUM,
            "email_missing",
            "the person has no email attribute",
            "Email actions skip people without an email address.",
            "Send `email` in the identify event (the producer's payload).",
        )
    if customer.get("unsubscribed"):
        check.add(
            Severity.MEDIUM,
            "unsubscribed",
            "the person is unsubscribed",
            "Marketing messages are not sent; transactional messages only where the "
            "message is set to send to unsubscribed people.",
            "Nothing to fix unless the unsubscribe was unintended (check recent "
            "`unsubscribed` attribute changes in activities).",
        )
    return str(email) if email else None


def _latest_updates(timestamps: dict[str, Any], shown: int = 5) -> list[dict[str, Any]]:
    """The attributes set most recently (names and times, never values): an identify that
    arrived, or one that an older update did not overwrite."""
    dated = sorted(
        ((v, k) for k, v in timestamps.items() if isinstance(v, int | float)), reverse=True
    )
    return [{"attribute": name, "at": when(stamp)} for stamp, name in dated[:shown]]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _suppression(check: Check, body: Any) -> None:
    if not isinstance(body, dict):
        return
    category = body.get("category")
    entries = body.get("suppressions") or []
    check.data["email_suppression"] = category or "none"
    if category and entries:
        severity, meaning = SUPPRESSION_SEVERITY.get(category, (Severity.MEDIUM, category))
        reasons = "; ".join(str(e.get("reason") or "") for e in entries[:3] if e.get("reason"))
        check.add(
            severity,
            f"email_suppressed_{category}",
            f"email suppressed: {meaning}",
            reasons,
            "Confirm the address with the person; remove the suppression in the "
            "email provider only if it was wrong (never to retry a spam complaint).",
        )


def _messages(check: Check, messages: list[dict[str, Any]]) -> None:
    shown = rows(
        messages,
        lambda m: {
            "id": m.get("id"),
            "type": m.get("type"),
            "campaign_id": m.get("campaign_id"),
            "action_id": m.get("action_id"),
            "created": when(m.get("created")),
            "state": last_metric(m.get("metrics") or {}),
            "failure": m.get("failure_message"),
        },
        MESSAGES_SHOWN,
    )
    check.data["recent_messages"] = shown
    failed = [m for m in shown if m["state"] in FAILED_METRICS]
    if failed:
        worst = failed[0]
        check.add(
            Severity.HIGH if worst["state"] in ("bounced", "spammed") else Severity.MEDIUM,
            "message_failures",
            f"{len(failed)} of the last {len(shown)} messages {worst['state']}",
            "; ".join(
                f"{m['id']}: {m['state']}" + (f" ({m['failure']})" if m["failure"] else "")
                for m in failed[:3]
            ),
            "Read the failure messages; a bounce or spam complaint also suppresses the address.",
        )
    if not shown:
        check.add(
            Severity.INFO,
            "no_messages",
            "no messages were sent to this person",
            "",
            "If a campaign should have reached them, run `cio-doctor campaign ID`.",
        )


def diagnose(client: CioClient, who: str, id_type: str | None = None) -> Report:
    report = Report("user", redact_email(who))
    with running_check("person") as check:
        where = _locate(client, check, who, id_type)
        if where is None:
            _not_found(check, who)
        else:
            _person(client, check, who, where)
    report.checks.append(check)
    return report


def _person(client: CioClient, check: Check, who: str, where: dict[str, str]) -> None:
    base = f"/v1/customers/{quote(where['value'], safe='')}"
    params = {"id_type": where["id_type"]}
    call = client.get(f"{base}/attributes", params)
    stop_on_access_problem(call, "reading the person")
    if call.status == 404:
        _not_found(check, who)
        return
    customer = body_or_note(check, call, "the person's attributes", "customer") or {}
    email = _profile(check, customer)
    reads = {
        "messages": (f"{base}/messages", {**params, "limit": str(MESSAGES_SHOWN)}),
        "activities": (f"{base}/activities", {**params, "limit": str(MESSAGES_SHOWN)}),
        "segments": (f"{base}/segments", params),
    }
    if email:
        reads["suppression"] = (f"/v1/esp/search_suppression/{quote(email, safe='@')}", {})
    calls = parallel(client, reads)
    if "suppression" in calls:
        stop_on_access_problem(calls["suppression"], "reading email suppressions")
        if calls["suppression"].ok:
            _suppression(check, calls["suppression"].json())
    _messages(check, body_or_note(check, calls["messages"], "messages", "messages") or [])
    activities = body_or_note(check, calls["activities"], "activities", "activities")
    check.data["recent_activities"] = rows(
        activities,
        lambda a: {
            "type": a.get("type"),
            "name": a.get("name"),
            "at": when(a.get("timestamp")),
            "delivery_id": a.get("delivery_id"),
        },
    )
    segments = body_or_note(check, calls["segments"], "segments", "segments")
    check.data["segments"] = rows(
        segments, lambda s: {"id": s.get("id"), "name": s.get("name")}, 50
    )
