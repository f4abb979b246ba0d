"""One factory for Google Cloud clients, so tests and local runs can point them at local servers.

The Pub/Sub client honours `PUBSUB_EMULATOR_HOST` by itself. BigQuery and Secret Manager have
no emulator convention, so `BIGQUERY_API_ENDPOINT` / `SECRETMANAGER_API_ENDPOINT` select a
local server and anonymous credentials.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any


def project_id(default: str = "local-project") -> str:
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT") or default


@cache
def publisher() -> Any:
    """A process-wide Pub/Sub publisher (thread-safe; one connection pool per instance)."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    return pubsub_v1.PublisherClient()


@cache
def ordered_publisher() -> Any:
    """A process-wide Pub/Sub publisher with message ordering enabled (needed to publish with
    an ordering key). A separate client: with ordering on, the library retries every publish
    of that client without a deadline and sends one batch per key at a time."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    options = pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    return pubsub_v1.PublisherClient(publisher_options=options)


def subscriber() -> Any:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    return pubsub_v1.SubscriberClient()


def bigquery_client(project: str | None = None) -> Any:
    from google.cloud import bigquery

    endpoint = os.environ.get("BIGQUERY_API_ENDPOINT")
    if endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=project or project_id(),
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    return bigquery.Client(project=project or project_id())


def secret_manager_client() -> Any:
    from google.cloud import secretmanager

    endpoint = os.environ.get("SECRETMANAGER_API_ENDPOINT")
    if endpoint:
        import grpc
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
            SecretManagerServiceGrpcTransport,
        )

        channel = grpc.insecure_channel(endpoint)
        transport = SecretManagerServiceGrpcTransport(
            channel=channel,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        return secretmanager.SecretManagerServiceClient(transport=transport)
    return secretmanager.SecretManagerServiceClient()


def topic_path(project: str, topic: str) -> str:
    """Full topic path; accepts an already full path unchanged."""
    return topic if topic.startswith("projects/") else f"projects/{project}/topics/{topic}"
