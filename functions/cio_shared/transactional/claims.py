"""Claims of idempotency keys in Firestore: what makes a transactional send happen once.

One document per claim key (`cio_shared.messages.claim_document_id`) in the collection
`contract.CLAIMS_COLLECTION`, with `state`:

- `sending`: claimed by an attempt, trusted until `lease_until` (epoch seconds);
- `sent`: Customer.io answered 2xx; `delivery_id` recorded;
- `failed`: the attempt certainly did not send (429, 5xx, 4xx, refused connection): the next
  delivery claims it again;
- `unknown`: the request may have reached Customer.io (a timeout after it left), or an
  instance died mid-send (a `sending` claim past its lease).

The first claim is a create-if-absent write (`DocumentReference.create`); only when the
document exists does a transaction read it and take it over. Every write sets
`contract.CLAIM_EXPIRY_FIELD`, the field of the database's TTL policy.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cio_shared import contract


class ClaimKind(StrEnum):
    NEW = "new"  # this attempt may send
    SENT = "sent"  # already sent: ack without sending
    IN_FLIGHT = "in_flight"  # another attempt is sending now: retry later
    UNKNOWN_RESEND = "unknown_resend"  # outcome unknown, policy `retry`: this attempt resends
    UNKNOWN_HELD = "unknown_held"  # outcome unknown, policy `hold`: do not send


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def may_send(self) -> bool:
        return self.kind in (ClaimKind.NEW, ClaimKind.UNKNOWN_RESEND)


class ClaimStore:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        ttl_seconds: int,
        lease_seconds: float,
        resend_unknown: bool,
        collection: str = contract.CLAIMS_COLLECTION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_factory = client_factory  # created lazily: after gunicorn's fork
        self._client: Any = None
        self.ttl_seconds = ttl_seconds
        self.lease_seconds = lease_seconds
        self.resend_unknown = resend_unknown
        self.collection = collection
        self._clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _ref(self, doc_id: str) -> Any:
        return self.client.collection(self.collection).document(doc_id)

    def _stamp(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = self._clock()
        return {
            **fields,
            "updated_at": now,
            contract.CLAIM_EXPIRY_FIELD: dt.datetime.fromtimestamp(
                now + self.ttl_seconds, tz=dt.UTC
            ),
        }

    def claim(self, doc_id: str, about: dict[str, Any]) -> Claim:
        """Claim `doc_id` for one attempt; raises on a Firestore error (the caller retries)."""
        from google.api_core import exceptions

        sending = {"state": "sending", "lease_until": self._clock() + self.lease_seconds}
        try:
            self._ref(doc_id).create(
                self._stamp({**about, **sending, "attempts": 1, "claimed_at": self._clock()})
            )
            return Claim(ClaimKind.NEW)
        except exceptions.AlreadyExists:
            pass
        except exceptions.Conflict:  # the emulator's answer for an existing document
            pass
        return self._take_over(doc_id, about, sending)

    def _take_over(self, doc_id: str, about: dict[str, Any], sending: dict[str, Any]) -> Claim:
        from google.cloud import firestore

        ref = self._ref(doc_id)

        @firestore.transactional  # type: ignore[untyped-decorator]
        def decide(transaction: Any) -> Claim:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:  # expired and deleted since our create
                transaction.create(ref, self._stamp({**about, **sending, "attempts": 1}))
                return Claim(ClaimKind.NEW)
            record = snapshot.to_dict() or {}
            state = record.get("state")
            attempts = int(record.get("attempts", 0)) + 1
            if state == "sent":
                return Claim(ClaimKind.SENT, record)
            if state == "sending" and float(record.get("lease_until", 0)) > self._clock():
                return Claim(ClaimKind.IN_FLIGHT, record)
            if state == "failed":
                transaction.update(ref, self._stamp({**sending, "attempts": attempts}))
                return Claim(ClaimKind.NEW, record)
            # `unknown`, or `sending` past its lease: an attempt may have sent it
            if not self.resend_unknown:
                if state != "unknown":
                    transaction.update(
                        ref, self._stamp({"state": "unknown", "unknown_reason": "lease_expired"})
                    )
                return Claim(ClaimKind.UNKNOWN_HELD, record)
            resends = int(record.get("unknown_resends", 0)) + 1
            transaction.update(
                ref,
                self._stamp({**sending, "attempts": attempts, "unknown_resends": resends}),
            )
            return Claim(ClaimKind.UNKNOWN_RESEND, record)

        result: Claim = decide(self.client.transaction())
        return result

    def record(self, doc_id: str, state: str, **fields: Any) -> None:
        """The attempt's outcome: `sent` (with delivery_id), `failed` or `unknown`."""
        self._ref(doc_id).update(self._stamp({"state": state, **fields}))

    def lookup(self, doc_id: str) -> dict[str, Any] | None:
        snapshot = self._ref(doc_id).get()
        return snapshot.to_dict() if snapshot.exists else None


def firestore_client(project: str, database: str) -> Any:
    """The official client; `FIRESTORE_EMULATOR_HOST` points it at the emulator."""
    from google.cloud import firestore

    return firestore.Client(project=project, database=database)
