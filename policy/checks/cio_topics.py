"""Pub/Sub topics keep published messages, so a subscription can be replayed (seek)."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckResult
from cio_policy import StackDocument, StackResourceCheck

DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
MIN_SECONDS, MAX_SECONDS = 600, 31 * 86_400  # Pub/Sub's accepted range


class TopicMessageRetention(StackResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure Pub/Sub topics retain messages (message_retention_duration, "
            "10 minutes to 31 days)",
            id="CKV_CIO_9",
            supported_resources=("google_pubsub_topic",),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        self.evaluated_keys = ["message_retention_duration"]
        value = resource.get("message_retention_duration")
        match = DURATION.match(str(value or ""))
        if not match:
            return self.fail(f"message_retention_duration is {value!r}, expected e.g. '604800s'")
        if not MIN_SECONDS <= float(match.group(1)) <= MAX_SECONDS:
            return self.fail(f"message_retention_duration {value} is outside 600s..31 days")
        return CheckResult.PASSED


check = TopicMessageRetention()
