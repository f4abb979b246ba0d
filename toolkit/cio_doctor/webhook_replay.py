"""Replay reporting-webhook events to a handler URL, signed now with the signing key.

Sources: a captured request or body, or the environment's `webhook-quarantine` subscription,
whose messages are acknowledged only after the handler took them: accepted (2xx), or
quarantined again (202 `quarantined`: a finding, and the handler's new copy replaces the
original in the quarantine).
"""

from __future__ import annotations

from collections.abc import Callable

from cio_doctor import capture, pubsub_dlq, webhook
from cio_doctor.config import ConfigError, Settings
from cio_doctor.findings import CannotCheck, Report, running_check
from cio_doctor.gcloud import google_client

QUARANTINE = "webhook-quarantine"


def _key(settings: Settings) -> str:
    return settings.secret("webhook-signing-key").reveal()


def from_capture(settings: Settings, url: str, request: str | None, body: str | None) -> Report:
    captured = capture.load(request, None, body)
    report = Report("webhook replay", url)
    with running_check("replay") as check:
        webhook.replay_check(
            check, url, [("capture", captured.body)], _key(settings), settings.timeout
        )
    report.checks.append(check)
    return report


def from_quarantine(
    settings: Settings, url: str, limit: int, confirm: Callable[[str], bool]
) -> Report:
    from cio_shared.common import subscriber

    if settings.env is None:
        raise ConfigError("--quarantine needs --env to find the quarantine subscription")
    key = _key(settings)
    subscription = (
        f"projects/{settings.env.project_id}/subscriptions/{settings.env.resource(QUARANTINE)}"
    )
    report = Report("webhook replay --quarantine", url)
    with running_check("replay quarantined") as check:
        held = pubsub_dlq.pull(google_client(subscriber, "Pub/Sub"), subscription, limit)
        if not held.messages:
            check.data["sent"] = []
            check.data["note"] = "the quarantine subscription is empty"
        else:
            try:
                if not confirm(f"Send {len(held.messages)} quarantined event(s) to {url}?"):
                    raise CannotCheck("replay cancelled; nothing was sent")
                bodies = [(m.message_id, m.data) for m in held.messages]
                outcomes = webhook.replay_check(
                    check, url, bodies, key, settings.timeout, settings.env.name
                )
                # Quarantined again: the handler published a new copy to the quarantine, so
                # the original is acknowledged too (keeping it would double the event there).
                done = [o != webhook.NOT_ACCEPTED for o in outcomes]
                for message, ok in zip(held.messages, done, strict=True):
                    if ok:
                        held.ack(message)
                held.release(m for m, ok in zip(held.messages, done, strict=True) if not ok)
            except BaseException:
                held.release()
                raise
    report.checks.append(check)
    return report
