"""Configuration: a missing key or a bad number fails the instance at start, naming the
variable and never its value."""

from __future__ import annotations

import pytest
from cio_shared.webhooks import SEVEN_DAYS, WebhookSettings, WebhookSettingsError


def test_defaults_cover_the_retry_period_and_name_topics_by_convention(monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p1")
    settings = WebhookSettings.from_env({"CIO_WEBHOOK_SIGNING_KEY": "k", "CIO_ENVIRONMENT": "dev"})
    assert settings.max_age_seconds >= SEVEN_DAYS
    assert settings.events_topic == "projects/p1/topics/cio-dev-webhook-events"
    assert settings.quarantine_topic == "projects/p1/topics/cio-dev-webhook-quarantine"
    assert settings.publish_timeout_seconds < 4
    assert settings.previous_signing_key == ""


def test_full_topic_paths_from_the_stack_are_kept() -> None:
    path = "projects/prod-1/topics/cio-prod-webhook-events"
    settings = WebhookSettings.from_env(
        {"CIO_WEBHOOK_SIGNING_KEY": "k", "CIO_WEBHOOK_EVENTS_TOPIC": path}
    )
    assert settings.events_topic == path


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "CIO_WEBHOOK_SIGNING_KEY"),
        ({"CIO_WEBHOOK_MAX_AGE_SECONDS": "a week"}, "CIO_WEBHOOK_MAX_AGE_SECONDS"),
        ({"CIO_WEBHOOK_MAX_FUTURE_SECONDS": "-5"}, "CIO_WEBHOOK_MAX_FUTURE_SECONDS"),
        ({"CIO_WEBHOOK_MAX_BODY_BYTES": "20000000"}, "CIO_WEBHOOK_MAX_BODY_BYTES"),
        ({"CIO_WEBHOOK_PUBLISH_TIMEOUT_SECONDS": "5"}, "CIO_WEBHOOK_PUBLISH_TIMEOUT_SECONDS"),
    ],
)
def test_bad_configuration_fails_naming_the_variable(env: dict[str, str], names: str) -> None:
    full = {"CIO_WEBHOOK_SIGNING_KEY": "super-secret-value", **env} if env else env
    with pytest.raises(WebhookSettingsError, match=names) as raised:
        WebhookSettings.from_env(full)
    assert "super-secret-value" not in str(raised.value)


def test_a_trailing_newline_in_a_secret_version_is_not_part_of_the_key() -> None:
    settings = WebhookSettings.from_env(
        {"CIO_WEBHOOK_SIGNING_KEY": "abc123\n", "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS": " old \n"}
    )
    assert (settings.signing_key, settings.previous_signing_key) == ("abc123", "old")
