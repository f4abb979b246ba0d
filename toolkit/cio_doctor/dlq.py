"""`cio-doctor dlq list|inspect|replay` over an environment's dead-letter subscriptions."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from cio_doctor import pubsub_dlq
from cio_doctor.config import ConfigError, EnvFile
from cio_doctor.findings import CannotCheck, Check, Report, Severity, now_iso, running_check
from cio_doctor.gcloud import google_client
from cio_doctor.pubsub_dlq import DeadLetter

DEAD_LETTER_SUFFIX = "-dead-letter"
RETENTION_WARN_FRACTION = 0.7


@dataclass(frozen=True)
class Target:
    """An environment's dead-letter subscriptions and where their messages came from."""

    project: str
    prefix: str  # `cio-<env>`
    retention_days: int = 14
    wait: float = pubsub_dlq.DEFAULT_WAIT_S
    event_topics: tuple[str, ...] = ("identify", "track")
    env: str | None = None  # the environment's name, for the commands a finding suggests

    def selector(self) -> str:
        """How to name this environment on a cio-doctor command line."""
        return f"--env {self.env}" if self.env else f"--prefix {self.prefix}"

    def subscription(self, purpose: str) -> str:
        if purpose.startswith("projects/"):
            return purpose
        name = purpose if purpose.startswith(f"{self.prefix}-") else f"{self.prefix}-{purpose}"
        return f"projects/{self.project}/subscriptions/{name}"

    def default_purposes(self, topics: tuple[str, ...]) -> list[str]:
        return [f"{t}{DEAD_LETTER_SUFFIX}" for t in topics]

    def source_topic(self, message: DeadLetter) -> str:
        """The topic a dead letter goes back to: the one its dead-letter subscription belongs
        to (`<prefix>-<topic>-dead-letter` -> `<prefix>-<topic>`), in this environment's
        project, and only an event topic of this environment.

        Never taken from the message's attributes: a producer can set any attribute, and
        Pub/Sub keeps them when it dead-letters a message itself. A handler's own dead letter
        names its source in `cio_source_topic`; one that disagrees is refused (a forgery or a
        misrouted dead letter), and for Pub/Sub's own dead letters `cio_*` is ignored.
        """
        project, _, name = message.subscription.removeprefix("projects/").partition(
            "/subscriptions/"
        )
        if project != self.project:
            raise CannotCheck(
                f"{message.subscription} is not in this environment's project {self.project}"
            )
        purpose = name.removeprefix(f"{self.prefix}-").removesuffix(DEAD_LETTER_SUFFIX)
        if not name.startswith(f"{self.prefix}-") or not name.endswith(DEAD_LETTER_SUFFIX):
            raise CannotCheck(f"{name} is not a dead-letter subscription of {self.prefix}")
        if purpose not in self.event_topics:
            raise CannotCheck(
                f"no replay for {name}: {purpose!r} is not an event topic of {self.prefix} "
                f"({', '.join(self.event_topics)})"
            )
        topic = f"projects/{self.project}/topics/{self.prefix}-{purpose}"
        claimed = message.attributes.get("cio_source_topic")
        if claimed and not message.forwarded_by_pubsub:
            full = (
                claimed
                if claimed.startswith("projects/")
                else f"projects/{self.project}/topics/{claimed}"
            )
            if full != topic:
                raise CannotCheck(
                    f"cio_source_topic {full} is not {topic}, the topic of {name}: not replayed "
                    "(a forged attribute or a misrouted dead letter; inspect it)"
                )
        return topic


def target_for(env: EnvFile | None, prefix: str | None = None, wait: float = 2.0) -> Target:
    if env is not None:
        return Target(
            env.project_id,
            f"{env.prefix}-{env.name}",
            wait=wait,
            event_topics=env.event_topics,
            env=env.name,
        )
    project = os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project or not prefix:
        raise ConfigError(
            "say which environment: --env NAME (or GOOGLE_CLOUD_PROJECT and --prefix)"
        )
    return Target(project, prefix, wait=wait)


def subscriptions(target: Target, env: EnvFile | None, chosen: Sequence[str]) -> list[str]:
    topics = env.event_topics if env else ("identify", "track")
    purposes = list(chosen) or target.default_purposes(topics)
    return [target.subscription(p) for p in purposes]


@dataclass
class Peeked:
    """What each subscription held, and why the ones that could not be read were not."""

    found: dict[str, list[DeadLetter]]
    unreadable: dict[str, str]

    def messages(self) -> list[DeadLetter]:
        return [m for msgs in self.found.values() for m in msgs]

    def failed_checks(self) -> list[Check]:
        """One could-not-check result per unreadable subscription, so a missing one neither
        hides the others nor passes unnoticed (the exit code is still 2)."""
        checks = []
        for sub, why in self.unreadable.items():
            check = Check(f"subscription {_short(sub)}", finished_at=now_iso())
            check.fail(why)
            checks.append(check)
        return checks


def _short(subscription: str) -> str:
    return subscription.rsplit("/", 1)[-1]


def peek_all(target: Target, subs: list[str], limit: int) -> Peeked:
    """Read every subscription on its own: one that cannot be read is reported, not fatal."""
    from cio_shared.common import subscriber

    client = google_client(subscriber, "Pub/Sub")

    def one(sub: str) -> list[DeadLetter] | str:
        try:
            return pubsub_dlq.peek(client, sub, limit, target.wait)
        except CannotCheck as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, len(subs))) as pool:
        results = dict(zip(subs, pool.map(one, subs), strict=True))
    return Peeked(
        {s: r for s, r in results.items() if not isinstance(r, str)},
        {s: r for s, r in results.items() if isinstance(r, str)},
    )


# the delivery and transactional handlers' reason for a send whose outcome is unknown, held
# for a person to decide (policy `hold`): not a rejection, and replaying it is the remedy
HELD = "outcome_unknown"


def _findings(check: Check, messages: list[DeadLetter], target: Target, now: datetime) -> None:
    if not messages:
        return
    retention_days = target.retention_days
    reasons = Counter(m.reason for m in messages)
    retryable = [m for m in messages if m.retryable]
    held = [m for m in messages if not m.retryable and m.reason == HELD]
    permanent = [m for m in messages if not m.retryable and m.reason != HELD]
    if held:
        check.add(
            Severity.HIGH,
            "dead_letters_outcome_unknown",
            f"{len(held)} dead letter(s) held after an unknown outcome (policy hold)",
            "Customer.io may or may not have stored each (a timeout or a 5xx after the request "
            f"left), e.g. `cio-doctor dlq inspect {held[0].message_id} {target.selector()}`.",
            "Check each person's activity in Customer.io (`cio-doctor user`); replay the missing "
            f"ones (`cio-doctor dlq replay {target.selector()} --reason {HELD} --dry-run`), "
            "discard the ones that arrived.",
        )
    if retryable:
        check.add(
            Severity.HIGH,
            "dead_letters_retryable",
            f"{len(retryable)} retryable dead letter(s)",
            "By reason: "
            + ", ".join(
                f"{r}={n}"
                for r, n in reasons.most_common()
                if any(m.reason == r for m in retryable)
            ),
            "Fix the cause (outage, revoked key, rate limit), then "
            f"`cio-doctor dlq replay {target.selector()} "
            + " ".join(f"--reason {r}" for r in dict.fromkeys(m.reason for m in retryable))
            + " --dry-run`, then without --dry-run.",
        )
    if permanent:
        check.add(
            Severity.MEDIUM,
            "dead_letters_permanent",
            f"{len(permanent)} dead letter(s) Customer.io or the schema rejected",
            "By reason: "
            + ", ".join(
                f"{r}={n}"
                for r, n in reasons.most_common()
                if any(m.reason == r for m in permanent)
            ),
            f"Inspect one (`cio-doctor dlq inspect {permanent[0].message_id} "
            f"{target.selector()}`) and fix the producer; replay only after the payload "
            "problem is fixed upstream.",
        )
    oldest = max(m.age_seconds(now) for m in messages)
    limit = retention_days * 86400
    if oldest > limit * RETENTION_WARN_FRACTION:
        check.add(
            Severity.CRITICAL,
            "dead_letters_expiring",
            f"oldest dead letter is {oldest // 3600} h old; retention is {retention_days} d",
            "Pub/Sub deletes messages older than the retention period.",
            "Replay or export them now.",
        )


def list_report(target: Target, subs: list[str], limit: int) -> Report:
    report = Report("dlq list", target.prefix)
    now = datetime.now(UTC)
    unreadable: list[Check] = []
    with running_check("dead letters") as check:
        peeked = peek_all(target, subs, limit)
        messages = peeked.messages()
        check.data["subscriptions"] = [
            {
                "subscription": _short(s),
                "read": s in peeked.found,
                "messages_seen": len(peeked.found[s]) if s in peeked.found else None,
                "limit_reached": len(peeked.found.get(s, [])) >= limit,
                "error": peeked.unreadable.get(s),
            }
            for s in subs
        ]
        check.data["by_reason"] = [
            {"reason": r, "count": n} for r, n in Counter(m.reason for m in messages).most_common()
        ]
        check.data["messages"] = [m.summary(now) for m in messages]
        _findings(check, messages, target, now)
        unreadable = peeked.failed_checks()
    report.checks.append(check)
    report.checks.extend(unreadable)
    return report


def inspect_report(target: Target, subs: list[str], message_id: str, limit: int) -> Report:
    report = Report("dlq inspect", message_id)
    now = datetime.now(UTC)
    with running_check("dead letter") as check:
        peeked = peek_all(target, subs, limit)
        match = next((m for m in peeked.messages() if m.message_id == message_id), None)
        if match is None:
            searched = ", ".join(_short(s) for s in peeked.found) or "no subscription"
            unread = "; ".join(f"{_short(s)}: {why}" for s, why in peeked.unreadable.items())
            raise CannotCheck(
                f"message {message_id} not found in the first {limit} messages of {searched}"
                + (f"; could not read {unread}" if unread else "")
            )
        check.data.update(match.summary(now))
        check.data["detail"] = match.attributes.get("cio_detail")
        check.data.update(match.detail())
        _findings(check, [match], target, now)
    report.checks.append(check)
    return report


def plan_replay(
    target: Target, subs: list[str], reasons: Sequence[str], limit: int
) -> tuple[Report, set[str]]:
    """The dry run: which messages a replay would re-publish, and to which topic.

    Returns the report and the ids of the messages a replay may re-publish: exactly these,
    so a dead letter that arrives between the plan and the confirmation is left alone.
    """
    report = Report("dlq replay (plan)", target.prefix)
    now = datetime.now(UTC)
    planned: set[str] = set()
    unreadable: list[Check] = []
    with running_check("replay plan") as check:
        peeked = peek_all(target, subs, limit)
        unreadable = peeked.failed_checks()
        rows = []
        for message in peeked.messages():
            if reasons and message.reason not in reasons:
                continue
            rows.append({**message.summary(now), "to_topic": _topic_name(target, message)})
            if _has_topic(target, message):
                planned.add(message.message_id)
        check.data["would_replay"] = rows
        check.data["reasons"] = list(reasons) or ["(all)"]
        refused = [r for r in rows if r["to_topic"].startswith("(none")]
        if refused:
            check.add(
                Severity.MEDIUM,
                "replay_refused",
                f"{len(refused)} dead letter(s) have no replay target and stay where they are",
                "; ".join(f"{r['message_id']}: {r['to_topic']}" for r in refused[:5]),
                "Inspect them (`cio-doctor dlq inspect MESSAGE_ID`): a dead letter goes back "
                "only to the topic its dead-letter subscription belongs to, in this project.",
            )
        if any(not r["retryable"] and r["reason"] != HELD for r in rows):
            check.add(
                Severity.MEDIUM,
                "replaying_permanent_failures",
                "the selection includes non-retryable dead letters",
                "Customer.io rejected these before; they will fail again unless the "
                "payload problem was fixed.",
                "Narrow the selection with --reason.",
            )
    report.checks.append(check)
    report.checks.extend(unreadable)
    return report, planned


def _topic_name(target: Target, message: DeadLetter) -> str:
    """The full path it would go to (never shortened: a path in another project must show)."""
    try:
        return target.source_topic(message)
    except CannotCheck as exc:
        return f"(none: {exc})"


def replay_report(target: Target, subs: list[str], planned: set[str], limit: int) -> Report:
    """Re-publish the planned dead letters (by message id) to their source topics."""
    from cio_shared.common import ordered_publisher, subscriber
    from cio_shared.producer import ordering_key_of

    report = Report("dlq replay", target.prefix)
    unreadable: list[Check] = []
    with running_check("replay") as check:
        client = google_client(subscriber, "Pub/Sub")
        topics = google_client(ordered_publisher, "Pub/Sub")
        outcomes: list[pubsub_dlq.ReplayOutcome] = []
        for sub in subs:
            try:
                held = pubsub_dlq.pull(client, sub, limit, target.wait)
            except CannotCheck as exc:
                unreadable.append(_unreadable(sub, str(exc)))
                continue
            outcomes.extend(
                pubsub_dlq.replay(
                    topics,
                    held,
                    selected=lambda m: m.message_id in planned,
                    topic_for=target.source_topic,
                    ordering_key_for=ordering_key_of,
                )
            )
        check.data["replayed"] = [o.to_dict() for o in outcomes]
        check.data["published"] = sum(1 for o in outcomes if o.published_id)
        failed = [o for o in outcomes if o.error]
        if failed:
            check.add(
                Severity.HIGH,
                "replay_publish_failed",
                f"{len(failed)} re-publish(es) failed; those dead letters were kept",
                "; ".join(f"{o.message_id}: {o.error}" for o in failed[:5]),
                "Check the topic exists and this account may publish to it, then run "
                "the replay again.",
            )
    report.checks.append(check)
    report.checks.extend(unreadable)
    return report


def _unreadable(subscription: str, why: str) -> Check:
    return Peeked({}, {subscription: why}).failed_checks()[0]


def _has_topic(target: Target, message: DeadLetter) -> bool:
    try:
        target.source_topic(message)
    except CannotCheck:
        return False
    return True
