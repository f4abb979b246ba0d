"""Transactional handler: Pub/Sub push deliveries from the transactional topic -> the
Customer.io App API (`/v1/send/email|push|sms`), each idempotency key sent once.

Claims, decisions and the unknown-outcome policy: functions/transactional/README.md. The
settings and the connection pool are created once, when the instance imports this module.
"""

import functions_framework
from cio_shared.transactional import build_handler

_HANDLER = build_handler(handler="transactional", topic="transactional")


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    return _HANDLER(request)
