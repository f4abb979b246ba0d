"""The trace's verdict: the first broken link between a producer and a person's inbox.

Links in order: published and decided by our handlers (the ledger) -> not dead-lettered ->
delivered to Customer.io -> the person exists there -> not suppressed -> a message went out ->
it did not bounce or fail -> it was delivered or opened. The first link that fails names the
verdict and the fix; when none fails, nothing is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cio_doctor.findings import Check, Finding, Severity
from cio_doctor.pubsub_dlq import DeadLetter

FAILED = ("bounced", "failed", "dropped", "undeliverable", "spammed")
REACHED = ("opened", "clicked", "delivered", "converted")
CREDENTIAL_REASONS = ("unauthorized", "forbidden")


@dataclass
class Facts:
    ledger_read: bool = False
    decisions: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[DeadLetter] = field(default_factory=list)
    person: Check | None = None
    activity: list[dict[str, Any]] = field(default_factory=list)

    def final(self) -> dict[str, Any] | None:
        """The latest decision (by decision time; the ledger view orders them)."""
        return self.decisions[-1] if self.decisions else None

    def person_codes(self) -> set[str]:
        return {f.code for f in self.person.findings} if self.person else set()

    def message_states(self) -> list[str]:
        """Every state a message to this person reached: webhooks and the App API."""
        states = [str(r.get("last_metric")) for r in self.activity]
        states += [f"{m}" for r in self.activity for m in FAILED if r.get(f"{m}_at")]
        if self.person is not None:
            states += [str(m.get("state")) for m in self.person.data.get("recent_messages") or []]
        return states


def decide(facts: Facts, selector: str, person_checked: bool) -> Finding:
    """`selector`: how to name the environment on a command line (`--env dev`)."""
    final = facts.final()
    if facts.waiting:
        first = facts.waiting[0]
        return Finding(
            Severity.HIGH,
            "dead_lettered",
            f"retried and dead-lettered with reason {first.reason}",
            f"{len(facts.waiting)} message(s) waiting in the dead-letter subscriptions, the "
            f"first {first.message_id} after {first.attempts or '?'} attempt(s)",
            f"Read it with `cio-doctor dlq inspect {first.message_id} {selector}`, fix the "
            f"cause, then `cio-doctor dlq replay {selector} --reason {first.reason} --dry-run`.",
        )
    if not facts.ledger_read:
        return Finding(
            Severity.INFO,
            "not_checked",
            "no verdict: the delivery ledger could not be read",
            "See the delivery ledger check's error; the other sources are shown as far as read.",
        )
    if final is None:
        return Finding(
            Severity.HIGH,
            "never_published",
            "never published: no handler decided on it in the window",
            "The delivery ledger has no decision and no dead letter is waiting: the producer "
            "did not publish it, published it to another topic or environment, or it is still "
            "in the topic's backlog.",
            "Check the producer's publish result and topic; widen --since; look at the push "
            f"subscription's backlog (`cio-doctor incident P2 {selector}`).",
        )
    if final["decision"] == "dead_lettered":
        return Finding(
            Severity.HIGH,
            "dead_lettered",
            f"dead-lettered with reason {final['reason']}, and no longer waiting",
            "The dead letter was replayed, purged or expired without a later delivery.",
            f"Republish the event from the producer, or find the replay with `cio-doctor dlq "
            f"list {selector}`.",
        )
    if final["decision"] == "retry":
        fix = (
            f"Check the credentials: `cio-doctor secrets {selector}` and `cio-doctor api`."
            if final["reason"] in CREDENTIAL_REASONS
            else f"Pub/Sub keeps retrying; see `cio-doctor incident P2 {selector}`."
        )
        return Finding(
            Severity.HIGH,
            "retrying",
            f"not delivered yet: retrying ({final['reason']})",
            f"last attempt {final['attempt']} answered {final['cio_status'] or 'nothing'}",
            fix,
        )
    return _after_delivery(facts, person_checked)


def _after_delivery(facts: Facts, person_checked: bool) -> Finding:
    """Delivered to Customer.io: the first of its links that fails, else nothing is wrong."""
    codes = facts.person_codes()
    states = facts.message_states()
    suppressed = sorted(c for c in codes if c.startswith("email_suppressed"))
    failed = next((s for s in states if s in FAILED), None)
    reached = next((s for s in states if s in REACHED), None)
    rules = [
        (
            "person_not_found" in codes,
            Finding(
                Severity.HIGH,
                "person_missing",
                "delivered, but Customer.io has no such person",
                "Customer.io accepted the calls, yet the person does not exist: deleted, or "
                "suppressed (a suppressed identifier is deleted and cannot be added again).",
                "Check the person's deletion or suppression in Customer.io before re-identifying.",
            ),
        ),
        (
            bool(suppressed),
            Finding(
                Severity.HIGH,
                "person_suppressed",
                "delivered, but the person is suppressed",
                f"{(suppressed or [''])[0]}: the email provider no longer sends to this address",
                "Confirm the address with the person; see the person's findings above.",
            ),
        ),
        (
            failed is not None,
            Finding(
                Severity.HIGH,
                "message_bounced" if failed == "bounced" else "message_failed",
                f"the campaign sent, but the message {failed}",
                "The event reached Customer.io and a message went out; the recipient's "
                "provider refused it.",
                "Read the failure message (`cio-doctor user`); fix the address or the content.",
            ),
        ),
        (
            "unsubscribed" in codes,
            Finding(
                Severity.MEDIUM,
                "person_unsubscribed",
                "delivered, but the person is unsubscribed",
                "Marketing messages are not sent to unsubscribed people.",
                "Nothing to fix unless the unsubscribe was unintended.",
            ),
        ),
        (
            reached is not None,
            Finding(
                Severity.INFO,
                "ok",
                f"nothing wrong: the message was {reached}",
                f"Every link held: decided, delivered to Customer.io, sent and {reached}.",
            ),
        ),
        (
            not person_checked,
            Finding(
                Severity.INFO,
                "delivered",
                "delivered to Customer.io; no message activity in the window",
                "Customer.io's side of the person was not read.",
                "Pass --person to check the person and their messages.",
            ),
        ),
    ]
    return next(
        (verdict for holds, verdict in rules if holds),
        Finding(
            Severity.LOW,
            "no_message",
            "delivered to Customer.io, but no message went out",
            "The person exists and is reachable, but no campaign sent them anything in the window.",
            "Check the campaign's trigger and filters: `cio-doctor campaign ID`.",
        ),
    )
