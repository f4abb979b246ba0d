"""`cio-doctor transactional <key>`: one transactional send's claim, read from Firestore.

The handler (functions/transactional) claims each message's idempotency key in the
environment's database `<prefix>-<env>-claims` before it sends and records Customer.io's
`delivery_id` after a 2xx. This looks a message up by its idempotency key, its event id, or
the `delivery_id` Customer.io answered, and says what happened to it. Read-only; the official
client, so `FIRESTORE_EMULATOR_HOST` points it at the emulator.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from cio_shared import contract
from cio_shared.messages import claim_document_id
from cio_shared.transactional import firestore_client

from cio_doctor.findings import CannotCheck, Check, Report, Severity, running_check

# Fields shown (the claim holds no personal data: the document id is a hash of the key).
SHOWN = (
    "state",
    "action",
    "template",
    "event_id",
    "delivery_id",
    "status",
    "attempts",
    "unknown_resends",
    "unknown_reason",
    "reason",
    "claimed_at",
    "updated_at",
    "lease_until",
    contract.CLAIM_EXPIRY_FIELD,
)


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key in SHOWN:
        if key not in record:
            continue
        value = record[key]
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif key in ("claimed_at", "updated_at", "lease_until") and isinstance(value, int | float):
            value = dt.datetime.fromtimestamp(value, tz=dt.UTC).isoformat()
        shown[key] = value
    return shown


def find_claim(
    client: Any, lookup: str, timeout: float = 10.0
) -> tuple[str, str, dict[str, Any]] | None:
    """(how it was found, document id, record) for an idempotency key, event id or delivery id.

    One try per read, each bounded by `timeout` (the client would otherwise retry an
    unreachable Firestore for minutes)."""
    collection = client.collection(contract.CLAIMS_COLLECTION)
    for how, key in (("idempotency_key", f"key:{lookup}"), ("event_id", f"id:{lookup}")):
        doc_id = claim_document_id(key)
        snapshot = collection.document(doc_id).get(retry=None, timeout=timeout)
        if snapshot.exists:
            return how, doc_id, snapshot.to_dict() or {}
    query = collection.where(filter=_field_filter("delivery_id", lookup)).limit(1)
    for snapshot in query.stream(retry=None, timeout=timeout):
        return "delivery_id", snapshot.id, snapshot.to_dict() or {}
    return None


def _field_filter(field: str, value: str) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, "==", value)


def judge(check: Check, record: dict[str, Any], now: float) -> None:
    state = record.get("state")
    resends = int(record.get("unknown_resends", 0) or 0)
    if state == "sent":
        if resends:
            check.add(
                Severity.LOW,
                "possible_duplicate",
                f"sent, after {resends} attempt(s) whose outcome was unknown",
                "An earlier attempt timed out after the request left; policy `retry` sent it "
                "again, so the person may have received it twice.",
                "Check the person's deliveries in Customer.io (Deliveries & Activity).",
            )
        return
    if state == "unknown" or (
        state == "sending" and float(record.get("lease_until", 0) or 0) <= now
    ):
        check.add(
            Severity.HIGH,
            "outcome_unknown",
            "the last attempt's outcome is unknown: Customer.io may or may not have sent it",
            f"reason: {record.get('unknown_reason', 'lease_expired')}",
            "Look the person up in Customer.io's deliveries; with policy `hold` the message is "
            "in the dead-letter subscription (`cio-doctor dlq list`).",
        )
    elif state == "sending":
        check.add(
            Severity.INFO,
            "in_flight",
            "an attempt is sending it now",
            "",
            "Run this again in a minute.",
        )
    elif state == "failed":
        check.add(
            Severity.MEDIUM,
            "not_sent_yet",
            "not sent: the last attempt failed and Pub/Sub retries it",
            f"reason: {record.get('reason', '')}, status: {record.get('status', '')}",
            "If it keeps failing: `cio-doctor dlq list`, and the handler's logs for the reason.",
        )
    else:
        check.add(Severity.MEDIUM, "unexpected_state", f"claim in state {state!r}")


def lookup_report(
    lookup: str,
    project: str,
    database: str,
    client_factory: Callable[[str, str], Any] = firestore_client,
    clock: Callable[[], float] = time.time,
) -> Report:
    report = Report("transactional", lookup)
    with running_check("claim") as check:
        check.data.update(project=project, database=database)
        try:
            found = find_claim(client_factory(project, database), lookup)
        except CannotCheck:
            raise
        except Exception as exc:  # Firestore unreachable, denied, database missing
            raise CannotCheck(
                f"reading {database} in {project} failed ({type(exc).__name__}): needs "
                "roles/datastore.viewer on the database, or FIRESTORE_EMULATOR_HOST locally"
            ) from None
        if found is None:
            check.add(
                Severity.MEDIUM,
                "claim_not_found",
                "no claim for this idempotency key, event id or delivery id",
                "The handler never received it (not published, or waiting in Pub/Sub), it was "
                "refused before the claim (dead-lettered as invalid), or its claim expired.",
                "Check `cio-doctor dlq list` and the transactional subscription's backlog.",
            )
        else:
            how, doc_id, record = found
            check.data.update(found_by=how, claim_id=doc_id, claim=_shown(record))
            judge(check, record, clock())
    report.checks.append(check)
    return report
