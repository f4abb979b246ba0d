"""Erasure on Pub/Sub: the person operation on the identify topic, and the keeper
subscriptions (dead letters, webhook quarantine) emptied of one person's messages.

A subscription can only lose one person's messages by pulling and acknowledging them. The scan
holds every message it pulled (its lease extended), acknowledges the person's, and releases the
others unchanged at the end (ack deadline 0), so they do not come back into the same scan. A
second scan proves none of the person's remain; had it seen fewer of the others than the first
released, something else consumed them: these subscriptions have no other consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cio_shared.contract import dead_letter_of

from cio_doctor import pubsub_dlq
from cio_doctor.config import EnvFile
from cio_doctor.erase_request import Subject, mentions, payload_hashes
from cio_doctor.findings import CannotCheck
from cio_doctor.gcloud import google_error

QUARANTINE = "webhook-quarantine"
WEBHOOK_EVENTS = "webhook-events"
HOLD_SECONDS = 600  # the lease a scan keeps on the messages it pulled
SCAN_LIMIT = 10_000


def keeper_subscriptions(env: EnvFile) -> list[str]:
    """Every pull subscription that keeps messages: the event topics' and the webhook events'
    dead letters, and the webhook quarantine."""
    purposes = [dead_letter_of(t) for t in (*env.event_topics, WEBHOOK_EVENTS)] + [QUARANTINE]
    return [f"projects/{env.project_id}/subscriptions/{env.resource(p)}" for p in purposes]


Matcher = Callable[[pubsub_dlq.DeadLetter], bool]


def matcher(hashes: set[str], subjects: list[Subject]) -> Matcher:
    def matches(message: pubsub_dlq.DeadLetter) -> bool:
        if payload_hashes(message.data) & hashes:
            return True
        return any(mentions(message.data, s) for s in subjects)

    return matches


@dataclass
class Scan:
    subscription: str
    seen: int = 0
    matched: int = 0
    removed: int = 0
    others: int = 0
    truncated: bool = False

    @property
    def short(self) -> str:
        return self.subscription.rsplit("/", 1)[-1]


def scan(subscriber: Any, subscription: str, matches: Matcher, act: bool, wait: float) -> Scan:
    """One pass over the whole backlog; with `act`, the person's messages are acknowledged."""
    held = pubsub_dlq.pull(subscriber, subscription, SCAN_LIMIT, wait, hold_seconds=HOLD_SECONDS)
    result = Scan(subscription, seen=len(held.messages), truncated=len(held.messages) >= SCAN_LIMIT)
    acked: set[str] = set()
    try:
        for message in held.messages:
            if matches(message):
                result.matched += 1
                if act:
                    held.ack(message)
                    acked.add(message.message_id)
                    result.removed += 1
    finally:  # everyone else's go back unchanged, also when the scan stops halfway
        held.release(m for m in held.messages if m.message_id not in acked)
    result.others = result.seen - result.matched
    return result


def publish_person_operation(env: EnvFile, subject: Subject, action: str) -> str:
    """`suppress`, `unsuppress` or `delete` on the identify topic, with the person's ordering
    key, so it lands after every update already published for them; returns the event id."""
    from cio_shared.producer import publish

    topic = f"projects/{env.project_id}/topics/{env.resource('identify')}"
    try:
        return publish("identify", subject.person(), {"action": action}, topic=topic)
    except Exception as exc:
        raise CannotCheck(f"cannot publish {action} to {topic}: {google_error(exc)}") from None
