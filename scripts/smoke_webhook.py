"""The webhook's part of the smoke check: unsigned requests are refused, and one unique event
signed exactly as Customer.io signs it (cio_shared.webhooks.sign) is accepted.

The signing key comes from `CIO_WEBHOOK_SIGNING_KEY` (local runs) or from Secret Manager, the
version the function runs. It is never printed: the report redacts it wherever it would appear.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import requests
from cio_shared.common import google_clients
from cio_shared.messages import new_event_id
from cio_shared.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

from scripts.smoke_report import Report
from scripts.smoke_stack import Webhook

UNSIGNED_BODY = b'{"event_id":"smoke-check","object_type":"email","metric":"sent"}'
KEY_VARIABLE = "CIO_WEBHOOK_SIGNING_KEY"


class KeyUnavailable(Exception):
    """The key could not be read; `finding` says whether that is a fault of the deployment."""

    def __init__(self, detail: str, fix: str, finding: bool) -> None:
        super().__init__(detail)
        self.detail, self.fix, self.finding = detail, fix, finding


def signing_key(project: str, webhook: Webhook) -> str:
    """The key the webhook verifies with (surrounding whitespace stripped, as the handler does)."""
    local = os.environ.get(KEY_VARIABLE)
    if local:
        return local.strip()
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError

    name = f"projects/{project}/secrets/{webhook.secret_id}/versions/{webhook.version}"
    try:
        answer = google_clients.secret_manager_client().access_secret_version(
            request={"name": name}, timeout=20
        )
    except (exceptions.NotFound, exceptions.FailedPrecondition) as exc:
        raise KeyUnavailable(
            f"{webhook.secret_id} version {webhook.version} is missing or disabled "
            f"({type(exc).__name__}): the webhook cannot start without it",
            "add the signing key from Customer.io as a secret version (docs/deploy.md step 4), "
            "or fix the `secret_versions` pin in the environment file",
            finding=True,
        ) from None
    except (exceptions.GoogleAPICallError, exceptions.RetryError, GoogleAuthError) as exc:
        raise KeyUnavailable(
            f"cannot read {webhook.secret_id} version {webhook.version} ({type(exc).__name__})",
            "run as an identity with roles/secretmanager.secretAccessor on the secret, or set "
            f"{KEY_VARIABLE} for a local run",
            finding=False,
        ) from None
    return bytes(answer.payload.data).decode("utf-8").strip()


@dataclass(frozen=True)
class SmokeEvent:
    event_id: str
    body: bytes


def smoke_event(now: float | None = None) -> SmokeEvent:
    """A known event shape (so it is published, not quarantined) with nested objects in both
    JSON columns: `data` and, through an extra top-level field, `extra`."""
    event_id = f"smoke-{new_event_id()}"
    payload = {
        "event_id": event_id,
        "object_type": "email",
        "metric": "sent",
        "timestamp": int(time.time() if now is None else now),
        "data": {
            "delivery_id": event_id,
            "identifiers": {"id": "smoke-check"},
            "smoke_check": {"event_id": event_id, "nested": [1, "two", {"three": 3}]},
        },
        "smoke_check": {"event_id": event_id},
    }
    return SmokeEvent(event_id, json.dumps(payload, separators=(",", ":")).encode())


_ANSWERS = {
    202: (
        "the webhook quarantined the smoke event (not a known event shape for this version)",
        "deploy the current webhook code; see cio-<env>-webhook-quarantine for the reason",
    ),
    401: (
        "the signed smoke event was refused (401): the key read here is not the key the "
        "webhook runs",
        "check that the environment file's secret_versions pin and the deployed function "
        "name the same secret version; redeploy after adding a new version",
    ),
    502: (
        "the webhook could not publish to Pub/Sub in time (502)",
        "check the webhook's service account may publish to cio-<env>-webhook-events and "
        "the topic exists; see the function's logs",
    ),
}


def send_signed(
    report: Report, name: str, url: str, key: str, event: SmokeEvent, timeout: float
) -> bool:
    """POST the signed smoke event; True when the webhook answered 200."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(key, timestamp, event.body),
        "User-Agent": "cio-smoke-check",
    }
    check = f"{name} signed event"
    try:
        answer = requests.post(url, data=event.body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        report.failed(
            check,
            f"{url} unreachable ({type(exc).__name__})",
            "check the function is deployed and public (make plan ENV=...)",
        )
        return False
    if answer.status_code == 200:
        report.passed(check, f"{event.event_id} accepted (200)")
        return True
    detail, fix = _ANSWERS.get(
        answer.status_code,
        (
            f"the signed smoke event was answered {answer.status_code}, expected 200",
            "see the function's logs for the request (its decision field says why)",
        ),
    )
    report.failed(check, detail, fix)
    return False


def unsigned_request_checks(report: Report, urls: dict[str, str], timeout: float) -> None:
    for name, url in urls.items():
        check = f"{name} unsigned request"
        try:
            answer = requests.post(
                url,
                data=UNSIGNED_BODY,
                headers={"Content-Type": "application/json"},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            report.failed(
                check,
                f"{url} unreachable ({exc.__class__.__name__})",
                "check the function is deployed and public (make plan ENV=...)",
            )
            continue
        if answer.status_code != 401:
            report.failed(
                check,
                f"answered {answer.status_code}, expected 401",
                "the deployed code does not verify signatures: deploy the current webhook",
            )
        else:
            report.passed(check, "refused (401)")
