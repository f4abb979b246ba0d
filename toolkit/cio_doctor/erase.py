"""`cio-doctor erase`: erase a person from every copy, with proof.

Copies: the Customer.io profile (suppressed, or deleted, through the identify topic and
verified with the App API), the BigQuery tables that hold the person's rows
(erase_bigquery), the keeper subscriptions (dead letters, webhook quarantine; erase_pubsub).
Messages still in flight are ordered before the person operation (identify topic) or blocked
by the suppression when they arrive later (track topic). Each request keeps its state in the
audit table, so a rerun continues it; it is complete only when every copy is empty, the
Customer.io step is verified, and the settle time for late arrivals has passed.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_doctor import erase_bigquery as bq
from cio_doctor import erase_cio, erase_firestore, erase_pubsub
from cio_doctor.cio_http import CioClient
from cio_doctor.config import EnvFile
from cio_doctor.erase_audit import AuditStore
from cio_doctor.erase_request import Subject
from cio_doctor.erase_windows import residual_windows
from cio_doctor.findings import CannotCheck, Check, Report, Severity, now_iso, running_check


@dataclass
class Context:
    env: EnvFile
    app: CioClient
    bigquery: Any
    subscriber: Any
    audit: AuditStore
    mode: str
    act: bool
    settle: timedelta
    cio_wait: float
    scan_wait: float
    requested_by: str = ""
    firestore: Callable[[str, str], Any] | None = None  # client factory (tests)
    env_settings: dict[str, Any] = field(default_factory=dict)  # the env file as YAML


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")) if moment else None


def new_state(subject: Subject, mode: str) -> dict[str, Any]:
    return {
        "request_id": subject.request_id,
        "person_hash": subject.hash,
        "mode": mode,
        "started_at": now_iso(),
        "hashes": [subject.hash],
        "customerio": {"published": [], "verified_at": None, "unsuppressed_at": None},
        "removed": {},
    }


def erase_request(ctx: Context, subject: Subject) -> Check:
    with running_check(f"request {subject.request_id}") as check:
        _run(ctx, subject, check)
    return check


def _run(ctx: Context, subject: Subject, check: Check) -> None:
    state = ctx.audit.latest(subject.request_id) or new_state(subject, ctx.mode)
    if state["mode"] != ctx.mode:
        raise CannotCheck(
            f"request {subject.request_id} was started with --mode {state['mode']}; "
            f"continue it with --mode {state['mode']}"
        )
    hashes = set(state["hashes"]) | {subject.hash}
    cio = _customerio(ctx, subject, state, hashes)
    state["hashes"] = sorted(hashes)
    scans = _keepers(ctx, hashes, subject, check)
    tables = [bq.erase_table(ctx.bigquery, t, hashes, ctx.act) for t in bq.tables(ctx.env)]
    watermarks = erase_firestore.erase_watermarks(ctx.env, hashes, ctx.act, ctx.firestore)
    removed: dict[str, int] = state["removed"]
    for name, count in [
        *[(s["subscription"], s["removed"]) for s in scans],
        *[(t.table.name, t.deleted) for t in tables],
        (erase_firestore.LOCATION, watermarks["removed"]),
    ]:
        removed[name] = removed.get(name, 0) + count
    pending = _pending(ctx, state, [*scans, watermarks], tables)
    if ctx.mode == "delete" and not pending and not cio.get("unsuppressed_at") and ctx.act:
        erase_pubsub.publish_person_operation(ctx.env, subject, "unsuppress")
        cio["unsuppressed_at"] = now_iso()
    status = "complete" if not pending else "pending"
    check.data.update(
        request_id=subject.request_id,
        person=subject.shown(),
        mode=ctx.mode,
        dry_run=not ctx.act,
        status=status if ctx.act else "dry run: nothing changed",
        customerio=cio | {"published": len(cio["published"])},
        subscriptions=scans,
        bigquery=[t.to_dict() for t in tables],
        firestore=watermarks,
        removed_so_far=dict(removed),
        pending=pending,
    )
    _findings(ctx, check, subject, pending)
    if ctx.act:
        ctx.audit.append(_audit_row(ctx, state, status, pending))
        check.data["audit"] = ctx.audit.table_id


def _customerio(
    ctx: Context, subject: Subject, state: dict[str, Any], hashes: set[str]
) -> dict[str, Any]:
    """Suppress (both modes: it also blocks late events) until the App API finds no profile."""
    cio: dict[str, Any] = state["customerio"]
    profile = erase_cio.lookup(ctx.app, subject)
    hashes |= profile.hashes
    cio["profile_found"] = profile.present
    if not ctx.act:
        return cio
    if profile.present or not cio["published"]:
        event_id = erase_pubsub.publish_person_operation(ctx.env, subject, "suppress")
        cio["published"].append({"action": "suppress", "event_id": event_id, "at": now_iso()})
        cio["verified_at"] = None
    if cio["verified_at"] is None and erase_cio.wait_gone(ctx.app, subject, ctx.cio_wait):
        cio["verified_at"] = now_iso()
    return cio


def _keepers(
    ctx: Context, hashes: set[str], subject: Subject, check: Check
) -> list[dict[str, Any]]:
    """Every keeper subscription, scanned side by side (each ends on a wait for nothing)."""
    subscriptions = erase_pubsub.keeper_subscriptions(ctx.env)
    with ThreadPoolExecutor(max_workers=len(subscriptions)) as pool:
        return list(pool.map(lambda s: _keeper(ctx, s, hashes, [subject], check), subscriptions))


def _keeper(
    ctx: Context, subscription: str, hashes: set[str], subjects: list[Subject], check: Check
) -> dict[str, Any]:
    matches = erase_pubsub.matcher(hashes, subjects)
    try:
        first = erase_pubsub.scan(ctx.subscriber, subscription, matches, ctx.act, ctx.scan_wait)
        proof = (
            erase_pubsub.scan(ctx.subscriber, subscription, matches, False, ctx.scan_wait)
            if ctx.act
            else first
        )
    except CannotCheck as exc:
        if "does not exist" not in str(exc):
            raise
        return {
            "subscription": subscription.rsplit("/", 1)[-1],
            "exists": False,
            "removed": 0,
            "remaining": 0,
        }
    if ctx.act and proof.others < first.others:
        check.add(
            Severity.HIGH,
            "other_consumer",
            f"{first.short}: {first.others - proof.others} message(s) vanished during the scan",
            "Keeper subscriptions have no consumer but this tool; something else acknowledged "
            "messages between the two scans, so a message of this person may have been hidden.",
            "Find and stop the other consumer (subscription metrics, IAM), then run erase again.",
        )
    return {
        "subscription": first.short,
        "exists": True,
        "scanned": first.seen,
        "found": first.matched,
        "removed": first.removed,
        "remaining": proof.matched,
        "others_released": first.others,
        "truncated": first.truncated or proof.truncated,
    }


def _pending(
    ctx: Context,
    state: dict[str, Any],
    places: list[dict[str, Any]],
    tables: list[bq.TableResult],
) -> list[str]:
    cio = state["customerio"]
    pending = []
    if not ctx.act:
        pending.append("everything: dry run, nothing erased (run again with --yes)")
    if cio["verified_at"] is None:
        pending.append("customerio: the profile is still found through the App API")
    for place in places:
        if place.get("remaining") or place.get("truncated"):
            where = place.get("subscription") or erase_firestore.LOCATION
            pending.append(f"{where}: {place['remaining']} left")
    for table in tables:
        if table.pending:
            retry = f" (retry after {table.retry_after})" if table.retry_after else ""
            pending.append(f"{table.table.name}: {table.pending}{retry}")
    verified = _parse(cio["verified_at"])
    if verified is not None and datetime.now(UTC) < verified + ctx.settle:
        until = (verified + ctx.settle).isoformat(timespec="seconds")
        pending.append(f"settle: late events and log rows may still arrive until {until}")
    return pending


def _findings(ctx: Context, check: Check, subject: Subject, pending: list[str]) -> None:
    if not pending:
        return
    check.add(
        Severity.MEDIUM,
        "erasure_pending",
        f"{subject.shown()}: {len(pending)} part(s) of the erasure are pending",
        "; ".join(pending),
        f"Run `cio-doctor erase --env {ctx.env.name} --person <same id> --mode {ctx.mode} "
        "--yes` again later; it continues this request and reports success only when every "
        "copy is empty.",
    )


def _audit_row(
    ctx: Context, state: dict[str, Any], status: str, pending: list[str]
) -> dict[str, Any]:
    return {
        "request_id": state["request_id"],
        "run_at": now_iso(),
        "person_hash": state["person_hash"],
        "mode": state["mode"],
        "requested_by": ctx.requested_by or getpass.getuser(),
        "status": status,
        "removed": json.dumps(state["removed"], sort_keys=True),
        "pending": [p.split(":", 1)[0] for p in pending],
        "state": json.dumps(state, sort_keys=True),
    }


def erase(ctx: Context, subjects: list[Subject]) -> Report:
    report = Report("erase", f"{len(subjects)} person(s), mode {ctx.mode}")
    for subject in subjects:
        report.checks.append(erase_request(ctx, subject))
    with running_check("residual windows") as check:  # what stays recoverable, and how long
        check.data["windows"] = residual_windows(ctx.bigquery, ctx.env, ctx.env_settings)
    report.checks.append(check)
    return report
