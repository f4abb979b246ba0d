"""The delivery hot path of the track and identify handlers: Pub/Sub push -> Track API.

    from cio_shared.delivery import build_handler
    _HANDLER = build_handler(handler="track", topic="track")

- `build_handler`, `DeliveryHandler`: one push delivery in, exactly one decision out
  (delivered, retry, dead-lettered), one log line (functions/README.md, "Decisions").
- `Settings`, `SettingsError`: the handler's environment variables, read once at start.
- `Decision`, `Outcome`: what a delivery ended in; `from_status`, `transport_error`: the
  outcome of a Customer.io answer or of no answer (for tools that replay a decision).

The parts behind it are modules of this package: `push` (envelope parsing), `decisions`
(status -> decision), `track_client` (the thin Track API client), `rate_limit` (token bucket),
`batching` (the coalescer), `senders` (per-event and batch), `dead_letter` (attributes and
publish), `settings`, `handler`. Imports `cio_shared.contract`, `cio_shared.common` and
`cio_shared.messages`; nothing of `cio_shared.webhooks` or `cio_shared.producer`.
"""

from cio_shared.delivery.decisions import Decision, Outcome, from_status, transport_error
from cio_shared.delivery.handler import DeliveryHandler, build_handler
from cio_shared.delivery.settings import Settings, SettingsError

__all__ = [
    "Decision",
    "DeliveryHandler",
    "Outcome",
    "Settings",
    "SettingsError",
    "build_handler",
    "from_status",
    "transport_error",
]
