"""The Pipelines path's own no-duplicate and no-stale guards, where Customer.io documents none.

What Customer.io's documents say (checked November 2026):

- `messageId` "is set by Customer.io" (pipelines-api.openapi.json, `common_fields`;
  https://docs.customer.io/integrations/api/cdp/), and the common-fields page lists it among the
  fields "our libraries and API automatically capture"
  (https://docs.customer.io/integrations/data-in/source-spec/common-fields/). No page says the
  Pipelines API deduplicates on a `messageId` a client sends, nor for how long. We still send our
  event id there (free, and harmless if they do), and rely on it for nothing. The Track API, by
  contrast, documents its event `id` as "A valid ULID used to deduplicate events"
  (https://docs.customer.io/integrations/api/track/).
- `timestamp` is "when the event originally took place. This is mostly useful when you backfill
  past events" (pipelines-api.openapi.json, `common_fields`). No page says an identify with an
  older `timestamp` leaves newer traits alone: the last identify to arrive wins.

So, with the official Firestore client (the claims database, `CIO_FIRESTORE_DATABASE`):

- **Delivered markers** `pipelines-delivered/<event id>`, written once Customer.io answered 2xx.
  A later delivery of the same event id (a Pub/Sub redelivery after a lost ack, a replay of a
  message that had arrived) is acked without sending: `already_delivered`.
- **Trait watermarks** `pipelines-traits/<person hash>`: for each trait, the `timestamp` of the
  newest identify that set it (written after the 2xx). An identify drops the traits a newer one
  already set and is acked without sending when none is left (`stale_identify`), so a replayed
  or redelivered older identify never overwrites a newer one. Per trait, as the Track API's
  timestamp check does. The identify topic's ordered subscription sends one identify per person
  at a time, so the read-then-write needs no transaction.

Cost on the hot path: one read (`get_all`: the markers, plus the people's watermarks for
identifies) before sending and one batched write after the 2xx, each shared by the deliveries
in flight together (as calls share a `/v1/batch` request); a Firestore error before sending
is a retry (`guard_unavailable`, never "send anyway"), after a 2xx only a log line (a retry
would resend). Both documents carry `expire_at` (the database's TTL policy) from
`CIO_CLAIM_TTL_SECONDS`, which outlasts every redelivery and dead-letter replay.

**Unknown outcomes** (policy `CIO_PIPELINES_UNKNOWN_OUTCOME`, the transactional handler's): a
timeout, a 500, 502 or 504 may come after Customer.io stored the call. `retry` (default)
resends: never a loss, possibly a duplicate. `hold` dead-letters the message as
`outcome_unknown` (not retryable) for a person to check in Customer.io and replay or discard:
never a duplicate, never silently lost. A 503 ("unable to handle the request", RFC 9110
15.6.4), a 429 and a connection error are resent under both policies (a connection reset
after the request left is the one ambiguous case among them: the transport does not tell it
from a refused connection, and holding every refused connection would page a person for each
event of an outage).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cio_shared import contract
from cio_shared.common import get_logger
from cio_shared.delivery.async_batching import AsyncCoalescer
from cio_shared.delivery.batching import Coalescer
from cio_shared.delivery.blocking import run_blocking, send_with
from cio_shared.delivery.decisions import Decision, Outcome

if TYPE_CHECKING:
    from cio_shared.delivery.senders import Sender
    from cio_shared.delivery.settings import Settings

DELIVERED_COLLECTION = contract.PIPELINES_DELIVERED_COLLECTION
TRAITS_COLLECTION = contract.PIPELINES_TRAITS_COLLECTION
# answers after which Customer.io may have stored the call
UNKNOWN_REASONS = frozenset({"timeout"})
UNKNOWN_STATUSES = frozenset({500, 502, 504})


# what the ledger knows of a call: already delivered?, the person's trait watermarks
Known = tuple[bool, dict[str, str]]
# what it records after a 2xx: event id, person hash (identify), the person's new watermarks
Delivered = tuple[str, str | None, dict[str, str] | None]
# the coalescers' bound: items are calls (32 KB at most) or small records
_COALESCED_BYTES = 8_000_000


@dataclass(frozen=True)
class CallFacts:
    """What the guard reads from one encoded Pipelines call."""

    event_id: str
    identify_person: str | None  # the person's hash, for an identify with traits
    timestamp: str  # ISO 8601 UTC, one fixed format: compares as text
    call: dict[str, Any]

    @classmethod
    def of(cls, operation: bytes) -> CallFacts:
        call = json.loads(operation)
        person = None
        if call.get("type") == "identify" and call.get("traits"):
            user_id = call.get("userId") or ""
            person = (
                contract.person_hash("id", user_id)
                if user_id
                else contract.person_hash("email", str(call["traits"].get("email", "")))
            )
        return cls(str(call.get("messageId", "")), person, str(call.get("timestamp", "")), call)


class Ledger:
    """The two collections in Firestore; `client_factory` is called on first use (after fork)."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_factory = client_factory
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    @cached_property
    def client(self) -> Any:
        """Created on first use: after gunicorn's fork, never before."""
        return self._client_factory()

    def _refs(self, facts: CallFacts) -> list[Any]:
        return self._refs_of(facts.event_id, facts.identify_person)

    def _refs_of(self, event_id: str, person: str | None) -> list[Any]:
        refs = [self.client.collection(DELIVERED_COLLECTION).document(event_id)]
        if person:
            refs.append(self.client.collection(TRAITS_COLLECTION).document(person))
        return refs

    def read(self, calls: list[CallFacts]) -> list[Known]:
        """For each call: already delivered?, the person's trait watermarks; one request."""
        refs = [self._refs(facts) for facts in calls]
        unique = {ref.path: ref for pair in refs for ref in pair}
        found = {snap.reference.path: snap for snap in self.client.get_all(list(unique.values()))}
        return [_known(pair, found) for pair in refs]

    def write(self, delivered: list[Delivered]) -> None:
        """The markers, and the people's new watermarks for identifies, in one request."""
        now = self._clock()
        expire = dt.datetime.fromtimestamp(now + self.ttl_seconds, tz=dt.UTC)
        batch = self.client.batch()
        for event_id, person, watermarks in delivered:
            refs = self._refs_of(event_id, person)
            batch.set(refs[0], {"delivered_at": now, contract.CLAIM_EXPIRY_FIELD: expire})
            if watermarks is not None and len(refs) > 1:
                batch.set(refs[1], {"traits": watermarks, contract.CLAIM_EXPIRY_FIELD: expire})
        batch.commit()


def _known(refs: list[Any], found: dict[str, Any]) -> Known:
    marker = found.get(refs[0].path)
    delivered = marker is not None and marker.exists
    watermarks: dict[str, str] = {}
    if len(refs) > 1 and (person := found.get(refs[1].path)) is not None and person.exists:
        watermarks = dict((person.to_dict() or {}).get("traits") or {})
    return delivered, watermarks


def ledger_for(settings: Settings) -> Ledger | None:
    """The ledger in the settings' Firestore database; None without one (no markers, no
    watermarks: only the unknown-outcome policy guards the path)."""
    if not settings.firestore_database:
        return None
    project, database = settings.project, settings.firestore_database

    def client() -> Any:
        from google.cloud import firestore  # only where the guard runs

        return firestore.Client(project=project, database=database)

    return Ledger(client, settings.claim_ttl_seconds)


class GuardedSender:
    """In front of the Pipelines sender: the delivered markers and trait watermarks (with a
    `ledger`) and the unknown-outcome policy (`hold` or `retry`).

    Concurrent deliveries share the ledger's requests: reads join one `get_all`, writes one
    batched commit (`Coalescer`, as calls join `/v1/batch`), so the guard costs two Firestore
    requests per batch of deliveries rather than per delivery."""

    def __init__(
        self,
        inner: Sender,
        ledger: Ledger | None,
        unknown_outcome: str = "retry",
        on_error: Callable[[str, BaseException], None] | None = None,
        max_items: int = 100,
        max_wait: float = 0.0,
    ) -> None:
        self.inner = inner
        self.ledger = ledger
        self.hold = unknown_outcome == "hold"
        self._on_error = on_error or _log_error
        self._reads: Coalescer[Known] = Coalescer(self._read, max_items, max_wait, _COALESCED_BYTES)
        self._writes: Coalescer[None] = Coalescer(
            self._write, max_items, max_wait, _COALESCED_BYTES
        )
        # The same requests for coroutine deliveries (functions-framework's ASGI server): the
        # Firestore call itself runs on the blocking-call pool, once per batch.
        self._reads_async: AsyncCoalescer[Known] = AsyncCoalescer(
            self._read, run_blocking, max_items, max_wait, _COALESCED_BYTES
        )
        self._writes_async: AsyncCoalescer[None] = AsyncCoalescer(
            self._write, run_blocking, max_items, max_wait, _COALESCED_BYTES
        )

    def send(self, operation: bytes) -> Outcome:
        if self.ledger is None:
            return self._held(self.inner.send(operation))
        steps: dict[str, Callable[[bytes], Any]] = {
            "read": self._reads.submit,
            "send": self.inner.send,
            "write": self._writes.submit,
        }
        flow, answer = self._flow(operation), _Answer()
        while (step := answer.into(flow)) is not None:
            answer = _Answer.of(steps[step[0]], step[1])
        return answer.outcome

    async def send_async(self, operation: bytes) -> Outcome:
        if self.ledger is None:
            return self._held(await send_with(self.inner, operation))
        steps: dict[str, Callable[[bytes], Awaitable[Any]]] = {
            "read": self._reads_async.submit,
            "send": lambda call: send_with(self.inner, call),
            "write": self._writes_async.submit,
        }
        flow, answer = self._flow(operation), _Answer()
        while (step := answer.into(flow)) is not None:
            answer = await _Answer.of_async(steps[step[0]], step[1])
        return answer.outcome

    def _flow(self, operation: bytes) -> Generator[tuple[str, bytes], Any, Outcome]:
        """One guarded delivery as steps, written once for both drivers: it yields
        `("read" | "send" | "write", argument)` and gets each step's result back, or its
        error thrown in; it returns the delivery's outcome."""
        facts = CallFacts.of(operation)
        try:
            delivered, watermarks = yield ("read", operation)
        except Exception as exc:
            return Outcome(Decision.RETRY, "guard_unavailable", None, _cause(exc))
        if delivered:
            return Outcome(Decision.DELIVERED, "already_delivered")
        fresh = fresh_traits(facts, watermarks)
        if fresh is not None and not fresh:
            return Outcome(Decision.DELIVERED, "stale_identify", None, "every trait is newer")
        if fresh is not None and len(fresh) < len(facts.call["traits"]):
            operation = _with_traits(facts.call, fresh)
        outcome = self._held((yield ("send", operation)))
        if outcome.decision is Decision.DELIVERED:
            updated = None
            if fresh is not None:
                updated = {**watermarks, **dict.fromkeys(fresh, facts.timestamp)}
            record = [facts.event_id, facts.identify_person, updated]
            try:
                yield ("write", json.dumps(record).encode())
            except Exception as exc:  # sent: a retry would resend, so only say so
                self._on_error("ledger_write", exc)
        return outcome

    def _read(self, operations: list[bytes]) -> list[Known]:
        assert self.ledger is not None
        return self.ledger.read([CallFacts.of(operation) for operation in operations])

    def _write(self, records: list[bytes]) -> list[None]:
        assert self.ledger is not None
        self.ledger.write([_delivered(record) for record in records])
        return [None] * len(records)

    def _held(self, outcome: Outcome) -> Outcome:
        if self.hold and is_unknown(outcome):
            return Outcome(
                Decision.DEAD_LETTER,
                "outcome_unknown",
                outcome.status,
                f"{outcome.reason}: Customer.io may have stored it (policy hold); check the "
                "person's activity in Customer.io, then replay or discard",
            )
        return outcome


@dataclass
class _Answer:
    """A step's result or error, to hand back to the flow (`GuardedSender._flow`)."""

    value: Any = None
    error: Exception | None = None
    outcome: Outcome = field(default_factory=lambda: Outcome(Decision.RETRY, "internal_error"))

    @classmethod
    def of(cls, step: Callable[[bytes], Any], argument: bytes) -> _Answer:
        try:
            return cls(step(argument))
        except Exception as exc:
            return cls(error=exc)

    @classmethod
    async def of_async(cls, step: Callable[[bytes], Awaitable[Any]], argument: bytes) -> _Answer:
        try:
            return cls(await step(argument))
        except Exception as exc:
            return cls(error=exc)

    def into(self, flow: Generator[tuple[str, bytes], Any, Outcome]) -> tuple[str, bytes] | None:
        """Resume `flow` with this answer: its next step, or None once it returned (the
        outcome is then in `self.outcome`). An error the flow does not catch propagates."""
        try:
            return flow.throw(self.error) if self.error is not None else flow.send(self.value)
        except StopIteration as done:
            self.outcome = done.value
            return None


def _delivered(record: bytes) -> Delivered:
    event_id, person, watermarks = json.loads(record)
    return str(event_id), person, watermarks


def _cause(exc: BaseException) -> str:
    """The error's type; a coalesced request's members see it as the cause."""
    return type(exc.__cause__ or exc).__name__


def is_unknown(outcome: Outcome) -> bool:
    """An answer after which the call may or may not have been stored."""
    if outcome.decision is not Decision.RETRY:
        return False
    return outcome.reason in UNKNOWN_REASONS or outcome.status in UNKNOWN_STATUSES


def fresh_traits(facts: CallFacts, watermarks: dict[str, str]) -> list[str] | None:
    """For an identify, the traits to send: those no newer identify has set, and `email` when
    it is what identifies the person (empty `userId`). Empty: nothing left worth sending.
    None: not an identify with traits."""
    if facts.identify_person is None:
        return None
    traits: dict[str, Any] = facts.call["traits"]
    identifying = set() if facts.call.get("userId") else {"email"}
    fresh = [
        name
        for name in traits
        if name not in identifying and watermarks.get(name, "") <= facts.timestamp
    ]
    if not fresh and len(traits) > len(identifying & set(traits)):
        return []  # every trait it sets is newer at Customer.io
    return [name for name in traits if name in identifying or name in fresh]


def _with_traits(call: dict[str, Any], names: list[str]) -> bytes:
    kept = {**call, "traits": {k: v for k, v in call["traits"].items() if k in names}}
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode()


def _log_error(where: str, exc: BaseException) -> None:
    get_logger("cio-pipelines-guard").log(
        "WARNING",
        f"pipelines guard: {where} failed after a delivery ({type(exc).__name__})",
        where=where,
        error=type(exc).__name__,
    )
