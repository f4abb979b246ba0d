"""A local Cloud Monitoring NotificationChannelService: `GetNotificationChannel` over gRPC.

google-cloud-monitoring has no REST transport, so this speaks the real gRPC protocol with
the official client's messages, like tests/toolkit/secret_manager_server.py does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.cloud.monitoring_v3 import types

from tests.support import grpc_server

SERVICE = "google.monitoring.v3.NotificationChannelService"


@contextmanager
def monitoring(channels: dict[str, dict[str, Any]], calls: list[str]) -> Iterator[str]:
    """Serve `channels` (name -> fields) on 127.0.0.1; yields `host:port`."""

    def get(request: Any, context: grpc.ServicerContext) -> Any:
        calls.append(f"GetNotificationChannel {request.name}")
        if request.name not in channels:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"Notification channel {request.name} not found."
            )
        return types.NotificationChannel(name=request.name, **channels[request.name])

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "GetNotificationChannel": grpc.unary_unary_rpc_method_handler(
                get,
                request_deserializer=types.GetNotificationChannelRequest.deserialize,
                response_serializer=types.NotificationChannel.serialize,
            )
        },
    )
    with grpc_server.serving(handler) as endpoint:
        yield endpoint
