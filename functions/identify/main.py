"""Identify handler: Pub/Sub push deliveries from the identify topic -> Customer.io Track API.

Configuration and decisions: functions/README.md. The connection pool and settings are created
once, when the instance imports this module.

Served by functions-framework's ASGI server (`functions_framework.aio`: uvicorn): a delivery is
a coroutine, and concurrent deliveries share Track API batches without a thread each
(bench/README.md: about a fifth of the server CPU per request of its WSGI server).
"""

import functions_framework.aio
from cio_shared.delivery import build_handler

_HANDLER = build_handler(handler="identify", topic="identify")


@functions_framework.aio.http
async def handle(request):  # type: ignore[no-untyped-def]
    return await _HANDLER.serve(request)
