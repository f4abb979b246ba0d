"""Track handler: Pub/Sub push deliveries from the track topic -> Customer.io Track API.

Configuration and decisions: functions/README.md. The connection pool and settings are created
once, when the instance imports this module.
"""

import functions_framework
from cio_shared.delivery import build_handler

_HANDLER = build_handler(handler="track", topic="track")


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    return _HANDLER(request)
