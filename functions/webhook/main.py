"""Customer.io reporting-webhook handler (Cloud Functions entry point `handle`).

Verifies the signature, publishes each event to `cio-<env>-webhook-events` (a BigQuery
subscription writes it to the `webhook_events` table) and quarantines signed bodies that are
not a known event. The logic lives in cio_shared.webhooks (handler.py); see its table of answers.
"""

from __future__ import annotations

from typing import Any

import functions_framework
from cio_shared.webhooks import WebhookHandler, WebhookSettings, limit_request_line
from flask import Request

# functions-framework imports this module before it starts gunicorn, whose request line it
# leaves unlimited; this bounds it (cio_shared/webhooks/server.py).
limit_request_line()
# Read once per instance: a missing signing key fails the instance at start, not a request.
_handler = WebhookHandler(WebhookSettings.from_env())


@functions_framework.http
def handle(request: Request) -> Any:
    return _handler(request)
