"""The reporting-webhook handler: verify Customer.io's signature, publish each event to BigQuery.

    from cio_shared.webhooks import WebhookHandler, WebhookSettings
    _handler = WebhookHandler(WebhookSettings.from_env())

- `WebhookHandler`: one request in, one answer (accepted, quarantined, rejected, retry) and one
  log line; its docstring holds the table of answers.
- `WebhookSettings`, `WebhookSettingsError`: the handler's environment variables.
- Signatures (`signature`): `sign`, `SignatureVerifier`, `Verdict`, `Rejection`, the headers
  and the accepted timestamp window (`DEFAULT_MAX_AGE_SECONDS`, ...), shared with `cio-doctor`.
- Events (`events`): `parse_event`, `to_row` (the BigQuery row), `encode_row`, `attributes`,
  and the catalog of object types and metrics.
- Server (`server`): `limit_request_line`, which bounds the request line functions-framework's
  gunicorn leaves unlimited (called by the handler's `main.py` at import).

Imports `cio_shared.common` only; nothing of `cio_shared.delivery` or `cio_shared.producer`.
"""

from cio_shared.webhooks.events import (
    METRICS_BY_OBJECT_TYPE,
    SUBSCRIPTION_METRICS,
    TOP_LEVEL_FIELDS,
    Unrecognised,
    WebhookEvent,
    attributes,
    encode_row,
    parse_event,
    to_row,
)
from cio_shared.webhooks.handler import WebhookHandler
from cio_shared.webhooks.server import REQUEST_LINE_LIMIT, limit_request_line
from cio_shared.webhooks.settings import WebhookSettings, WebhookSettingsError
from cio_shared.webhooks.signature import (
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_MAX_FUTURE_SECONDS,
    SEVEN_DAYS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Rejection,
    SignatureVerifier,
    Verdict,
    sign,
)

__all__ = [
    "DEFAULT_MAX_AGE_SECONDS",
    "DEFAULT_MAX_FUTURE_SECONDS",
    "METRICS_BY_OBJECT_TYPE",
    "REQUEST_LINE_LIMIT",
    "SEVEN_DAYS",
    "SIGNATURE_HEADER",
    "SUBSCRIPTION_METRICS",
    "TIMESTAMP_HEADER",
    "TOP_LEVEL_FIELDS",
    "Rejection",
    "SignatureVerifier",
    "Unrecognised",
    "Verdict",
    "WebhookEvent",
    "WebhookHandler",
    "WebhookSettings",
    "WebhookSettingsError",
    "attributes",
    "encode_row",
    "limit_request_line",
    "parse_event",
    "sign",
    "to_row",
]
