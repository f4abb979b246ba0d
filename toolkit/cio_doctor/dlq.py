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
from cio_doctor.findings import CannotCheck, Check, Report, Severity, running_check
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
            env.project_id, f"{env.prefix}-{env.name}", wait=wait, event_topics=env.event_topics
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


def _peek_all(target: Target, subs: list[str], limit: int) -> dict[str, list[DeadLetter]]:
    from cio_shared.common import subscriber

    client = google_client(subscriber, "Pub/Sub")
    with ThreadPoolExecutor(max_workers=max(1, len(subs))) as pool:
        found = pool.map(lambda s: pubsub_dlq.peek(client, s, limit, target.wait), subs)
        return dict(zip(subs, found, strict=True))


def _findings(check: Check, messages: list[DeadLetter], retention_days: int, now: datetime) -> None:
    if not messages:
        return
    reasons = Counter(m.reason for m in messages)
    retryable = [m for m in messages if m.retryable]
    permanent = [m for m in messages if not m.retryable]
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
            "`cio-doctor dlq replay --env ENV --reason REASON --dry-run`, then without "
            "--dry-run.",
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
            "Inspect one (`cio-doctor dlq inspect MESSAGE_ID`) and fix the producer; "
            "replay only after the payload problem is fixed upstream.",
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
    with running_check("dead letters") as check:
        found = _peek_all(target, subs, limit)
        messages = [m for msgs in found.values() for m in msgs]
        check.data["subscriptions"] = [
            {
                "subscription": s.rsplit("/", 1)[-1],
                "messages_seen": len(found[s]),
                "limit_reached": len(found[s]) >= limit,
            }
            for s in subs
        ]
        check.data["by_reason"] = [
            {"reason": r, "count": n} for r, n in Counter(m.reason for m in messages).most_common()
        ]
        check.data["messages"] = [m.summary(now) for m in messages]
        _findings(check, messages, target.retention_days, now)
    report.checks.append(check)
    return report


def inspect_report(target: Target, subs: list[str], message_id: str, limit: int) -> Report:
    report = Report("dlq inspect", message_id)
    now = datetime.now(UTC)
    with running_check("dead letter") as check:
        found = _peek_all(target, subs, limit)
        match = next(
            (m for msgs in found.values() for m in msgs if m.message_id == message_id), None
        )
        if match is None:
            raise CannotCheck(
                f"message {message_id} not found in the first {limit} messages of "
                + ", ".join(s.rsplit("/", 1)[-1] for s in subs)
            )
        check.data.update(match.summary(now))
        check.data["detail"] = match.attributes.get("cio_detail")
        check.data.update(match.detail())
        _findings(check, [match], target.retention_days, now)
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
    with running_check("replay plan") as check:
        found = _peek_all(target, subs, limit)
        rows = []
        for message in (m for msgs in found.values() for m in msgs):
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
        if any(not r["retryable"] for r in rows):
            check.add(
                Severity.MEDIUM,
                "replaying_permanent_failures",
                "the selection includes non-retryable dead letters",
                "Customer.io rejected these before; they will fail again unless the "
                "payload problem was fixed.",
                "Narrow the selection with --reason.",
            )
    report.checks.append(check)
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
    with running_check("replay") as check:
        client = google_client(subscriber, "Pub/Sub")
        topics = google_client(ordered_publisher, "Pub/Sub")
        outcomes: list[pubsub_dlq.ReplayOutcome] = []
        for sub in subs:
            held = pubsub_dlq.pull(client, sub, limit, target.wait)
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
    return report


def _has_topic(target: Target, message: DeadLetter) -> bool:
    try:
        target.source_topic(message)
    except CannotCheck:
        return False
    return True
