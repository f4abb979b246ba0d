"""A small local Secret Manager: the three gRPC calls the toolkit makes, on 127.0.0.1.

No Secret Manager emulator exists. This server speaks the real protocol
(`google.cloud.secretmanager.v1.SecretManagerService`, the messages of the official client),
so the toolkit's real client code runs against it through SECRETMANAGER_API_ENDPOINT.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.cloud.secretmanager_v1 import types

from tests.support import grpc_server

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
ENABLED = types.SecretVersion.State.ENABLED
DISABLED = types.SecretVersion.State.DISABLED


@dataclass
class Store:
    """secret name (projects/p/secrets/s) -> versions [(payload, state, created)]."""

    secrets: dict[str, list[tuple[bytes, Any, datetime]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def add(
        self,
        project: str,
        secret_id: str,
        value: str,
        state: Any = ENABLED,
        created: datetime | None = None,
    ) -> str:
        name = f"projects/{project}/secrets/{secret_id}"
        versions = self.secrets.setdefault(name, [])
        versions.append((value.encode(), state, created or datetime.now(UTC)))
        return str(len(versions))


def _split(name: str) -> tuple[str, str]:
    secret, _, version = name.partition("/versions/")
    return secret, version


def _handlers(store: Store) -> grpc.GenericRpcHandler:
    def access(request: Any, context: grpc.ServicerContext) -> Any:
        store.calls.append("AccessSecretVersion")
        secret, version = _split(request.name)
        versions = store.secrets.get(secret)
        if not versions:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Secret [{secret}] not found")
        if version == "latest":
            enabled = [i for i, v in enumerate(versions) if v[1] == ENABLED]
            if not enabled:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no enabled version")
            index = enabled[-1]
        else:
            index = int(version) - 1
            if not 0 <= index < len(versions):
                context.abort(grpc.StatusCode.NOT_FOUND, f"version {version} not found")
            if versions[index][1] != ENABLED:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"version {version} disabled")
        return types.AccessSecretVersionResponse(
            name=f"{secret}/versions/{index + 1}",
            payload=types.SecretPayload(data=versions[index][0]),
        )

    def list_versions(request: Any, context: grpc.ServicerContext) -> Any:
        store.calls.append("ListSecretVersions")
        versions = store.secrets.get(request.parent)
        if versions is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Secret [{request.parent}] not found")
        return types.ListSecretVersionsResponse(
            versions=[
                types.SecretVersion(
                    name=f"{request.parent}/versions/{i + 1}", state=state, create_time=created
                )
                for i, (_, state, created) in reversed(list(enumerate(versions)))
            ],
            total_size=len(versions),
        )

    def get_secret(request: Any, context: grpc.ServicerContext) -> Any:
        store.calls.append("GetSecret")
        if request.name not in store.secrets:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Secret [{request.name}] not found")
        return types.Secret(name=request.name)

    def unary(fn: Any, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "AccessSecretVersion": unary(
                access, types.AccessSecretVersionRequest, types.AccessSecretVersionResponse
            ),
            "ListSecretVersions": unary(
                list_versions, types.ListSecretVersionsRequest, types.ListSecretVersionsResponse
            ),
            "GetSecret": unary(get_secret, types.GetSecretRequest, types.Secret),
        },
    )


@contextmanager
def secret_manager(store: Store) -> Iterator[str]:
    """Serve `store` on 127.0.0.1; yields the endpoint for SECRETMANAGER_API_ENDPOINT."""
    with grpc_server.serving(_handlers(store)) as endpoint:
        yield endpoint
