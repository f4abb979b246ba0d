"""The alert policies' notification channels exist (Cloud Monitoring `GetNotificationChannel`)."""

from __future__ import annotations

from stacks.preflight.checks.common import could_not_check
from stacks.preflight.clients import Clients
from stacks.preflight.errors import is_not_found
from stacks.preflight.results import Result, fail, ok
from stacks.preflight.target import Target

CHECK = "channels"
NEEDS = "monitoring.notificationChannels.get (roles/monitoring.viewer)"


def check(target: Target, clients: Clients) -> list[Result]:
    names = target.env.monitoring.notification_channels
    if not names:
        return [ok(CHECK, "monitoring", "no notification channels configured")]
    results: list[Result] = []
    for name in names:
        try:
            channel = clients.rpc(
                "monitoring", clients.channels().get_notification_channel, name=name
            )
        except Exception as exc:
            if is_not_found(exc):
                project = name.split("/")[1]
                results.append(
                    fail(
                        CHECK,
                        name,
                        "the notification channel does not exist",
                        "the alert policies reference it, and creating an alert policy with "
                        "an unknown channel fails (404), so the apply stops there",
                        f"gcloud beta monitoring channels list --project {project} "
                        "--format='value(name,displayName)'",
                        f"replace or remove it under monitoring.notification_channels in "
                        f"{target.env_file}",
                    )
                )
            else:
                results.append(could_not_check(CHECK, name, "monitoring", clients, exc, NEEDS))
            continue
        label = channel.display_name or channel.type_
        enabled = channel.enabled is not False  # unset means enabled
        note = "" if enabled else " (disabled: alerts will not reach anyone)"
        results.append(ok(CHECK, name, f"exists: {label}{note}"))
    return results
