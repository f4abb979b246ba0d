"""`cio-doctor trace --person ID | --event-id ID [--since 24h]`: why didn't it arrive.

One timeline across every system an event crosses: our handlers' decisions (the delivery ledger
in BigQuery), dead letters still waiting, Customer.io's person (exists, identifiers,
unsubscribed, suppressed) and its messages (App API), and the reporting webhooks (the ledger's
`message_activity` view). Then a verdict naming the first broken link and its fix (verdict.py).
Read-only: dead letters are peeked and released, never acknowledged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_shared.common import redact_email
from cio_shared.contract import person_hash

from cio_doctor import dlq
from cio_doctor.cio_http import CioClient
from cio_doctor.dlq import Target
from cio_doctor.findings import Check, Report, running_check
from cio_doctor.ledger import LedgerReader
from cio_doctor.pubsub_dlq import DeadLetter
from cio_doctor.verdict import Facts, decide

_SINCE = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
DEAD_LETTERS_SCANNED = 1000
SHOWN = 50


def parse_since(text: str) -> timedelta:
    """`30m`, `24h`, `7d`."""
    match = _SINCE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"--since takes a duration like 30m, 24h or 7d, not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Subject:
    """Who or what is traced: a person, an event, or both."""

    person: str | None = None
    event_id: str | None = None
    id_type: str | None = None

    def hashes(self) -> list[str]:
        if not self.person:
            return []
        kind = self.id_type or ("email" if "@" in self.person else "id")
        return [person_hash(kind, self.person)]

    def label(self) -> str:
        parts = [f"person {redact_email(self.person)}"] if self.person else []
        return ", ".join([*parts, *([f"event {self.event_id}"] if self.event_id else [])])


@dataclass
class Sources:
    ledger: LedgerReader
    dead_letters: Target
    subscriptions: list[str]
    customerio: CioClient | None  # the App API; None skips Customer.io's side


@dataclass
class Gathered:
    checks: list[Check] = field(default_factory=list)
    facts: Facts = field(default_factory=Facts)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def at(self, when: Any, source: str, what: str) -> None:
        if when is not None:
            self.timeline.append({"at": _iso(when), "source": source, "what": what})


def trace(sources: Sources, subject: Subject, since: timedelta) -> Report:
    report = Report("trace", subject.label())
    start = datetime.now(UTC) - since
    got = Gathered()
    hashes = _ledger(sources, subject, start, got)
    _dead_letters(sources, subject, hashes, got)
    if subject.person and sources.customerio is not None:
        _person(sources.customerio, subject, got)
    _webhooks(sources, hashes, start, got)
    with running_check("verdict") as check:
        got.timeline.sort(key=lambda row: row["at"])
        check.data["since"] = start.isoformat(timespec="seconds")
        check.data["timeline"] = got.timeline[-SHOWN:]
        verdict = decide(got.facts, sources.dead_letters.selector(), subject.person is not None)
        check.data["verdict"] = verdict.code
        check.add(verdict.severity, verdict.code, verdict.title, verdict.detail, verdict.next_step)
    report.checks = [*got.checks, check]
    report.extra["verdict"] = verdict.code
    return report


def _ledger(sources: Sources, subject: Subject, start: datetime, got: Gathered) -> list[str]:
    """Our handlers' decisions; returns the person hashes to follow (an event names its own)."""
    hashes = subject.hashes()
    with running_check("delivery ledger") as check:
        rows = sources.ledger.decisions(hashes, subject.event_id, start)
        if subject.event_id and not subject.person:
            hashes = sorted({r["person_hash"] for r in rows if r["person_hash"]})
        check.data["decisions"] = [_decision_row(r) for r in rows[-SHOWN:]]
        got.facts.ledger_read = True
        got.facts.decisions = rows
        for r in rows:
            got.at(r["logged_at"], "ledger", _describe_decision(r))
    got.checks.append(check)
    return hashes


def _decision_row(row: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in row.items() if k != "person_hash"}
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in shown.items()}


def _describe_decision(row: dict[str, Any]) -> str:
    status = f", Customer.io {row['cio_status']}" if row.get("cio_status") else ""
    replay = " (a replay)" if row.get("replay_of") else ""
    return (
        f"{row['action'] or 'message'} {row['event_id'] or '?'}{replay}: {row['decision']} "
        f"({row['reason']}{status}), attempt {row['attempt']}"
    )


def _dead_letters(sources: Sources, subject: Subject, hashes: list[str], got: Gathered) -> None:
    unreadable: list[Check] = []
    with running_check("dead letters") as check:
        target = sources.dead_letters
        peeked = dlq.peek_all(target, sources.subscriptions, DEAD_LETTERS_SCANNED)
        unreadable = peeked.failed_checks()
        now = datetime.now(UTC)
        mine = [m for m in peeked.messages() if _concerns(m, subject, hashes)]
        check.data["waiting"] = [m.summary(now) for m in mine]
        got.facts.waiting = mine
        for m in mine:
            got.at(m.publish_time, "dead letters", f"waiting in {_short(m)}: {m.reason}")
    got.checks += [check, *unreadable]


def _concerns(message: DeadLetter, subject: Subject, hashes: list[str]) -> bool:
    if subject.event_id and message.event_id() == subject.event_id:
        return True
    try:
        person = json.loads(message.data).get("person")
    except (ValueError, AttributeError):
        return False
    if not isinstance(person, dict) or not person:
        return False
    kind, value = next(iter(person.items()))
    return person_hash(str(kind), str(value)) in hashes


def _short(message: DeadLetter) -> str:
    return message.subscription.rsplit("/", 1)[-1]


def _person(client: CioClient, subject: Subject, got: Gathered) -> None:
    from cio_doctor import user

    assert subject.person is not None
    (check,) = user.diagnose(client, subject.person, subject.id_type).checks
    check.name = "customer.io person"
    got.facts.person = check
    for update in check.data.get("attributes_updated") or []:
        got.at(update["at"], "customer.io", f"attribute {update['attribute']} set")
    for message in check.data.get("recent_messages") or []:
        got.at(
            message.get("created"),
            "customer.io",
            f"message {message.get('id')} (campaign {message.get('campaign_id')}): "
            f"{message.get('state')}",
        )
    got.checks.append(check)


def _webhooks(sources: Sources, hashes: list[str], start: datetime, got: Gathered) -> None:
    with running_check("reporting webhooks") as check:
        rows = sources.ledger.activity(hashes, start) if hashes else []
        check.data["deliveries"] = [_decision_row(r) for r in rows[-SHOWN:]]
        got.facts.activity = rows
        for r in rows:
            for metric in ("sent", "delivered", "opened", "clicked", "bounced", "failed"):
                got.at(r.get(f"{metric}_at"), "webhooks", f"delivery {r['delivery_id']}: {metric}")
    got.checks.append(check)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)
