"""The manifest the stacks deploy from (docs/design.md) matches what the handler reads."""

from __future__ import annotations

from pathlib import Path

import yaml
from cio_shared.webhooks import SEVEN_DAYS, WebhookSettings

MANIFEST = Path(__file__).resolve().parents[2] / "functions" / "webhook" / "handler.yaml"


def test_the_manifest_declares_what_the_handler_reads() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["entry_point"] == "handle"
    assert manifest["trigger"] == "http_public"
    assert manifest["secrets"] == {
        "CIO_WEBHOOK_SIGNING_KEY": "webhook-signing-key",
        "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS": "webhook-signing-key@previous",
    }
    assert manifest["publishes"] == {
        "CIO_WEBHOOK_EVENTS_TOPIC": "webhook-events",
        "CIO_WEBHOOK_QUARANTINE_TOPIC": "webhook-quarantine",
    }
    settings = WebhookSettings.from_env({"CIO_WEBHOOK_SIGNING_KEY": "k", **manifest["env"]})
    assert settings.max_age_seconds > SEVEN_DAYS
    assert settings.publish_timeout_seconds < 4
