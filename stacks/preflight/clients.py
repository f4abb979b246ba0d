"""One factory for every Google client preflight uses, so tests can point each at a local fake.

`CIO_PREFLIGHT_ENDPOINTS` (or `--endpoints`) maps a service to an endpoint, e.g.
`kms=http://127.0.0.1:8001,secretmanager=grpc://127.0.0.1:8002`. `http://` selects the REST
transport (which keeps the explicit scheme), `grpc://` an insecure gRPC channel; an overridden
service gets anonymous credentials. Every other service uses Application Default Credentials.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.api_core.retry import Retry, if_transient_error

from stacks.preflight import errors

ENDPOINTS_ENV = "CIO_PREFLIGHT_ENDPOINTS"
DEFAULT_HOSTS = {
    "resourcemanager": "cloudresourcemanager.googleapis.com",
    "serviceusage": "serviceusage.googleapis.com",
    "storage": "storage.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "orgpolicy": "orgpolicy.googleapis.com",
    "iam": "iam.googleapis.com",
}
GRPC_ONLY = {"monitoring"}  # google-cloud-monitoring has no REST transport
REST_ONLY = {"storage", "iam"}  # the JSON API client and the discovery client
TIMEOUT = 20.0


def _transient(exc: Exception) -> bool:
    """429/5xx answers are retried; a refused or unresolvable connection is not."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError):
        return False
    return bool(if_transient_error(exc))


# A short retry on 429/5xx; a service that stays down is reported as "could not check" (and
# later calls to it fail fast, see `Clients.call`).
RETRY = Retry(predicate=_transient, initial=0.5, maximum=2.0, multiplier=2.0, timeout=4.0)
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

T = TypeVar("T")


class EndpointError(ValueError):
    """The endpoint map names an unknown service or an unusable endpoint."""


def parse_endpoints(text: str) -> dict[str, str]:
    """`service=endpoint,...` -> {service: endpoint}; bare `host:port` means gRPC."""
    endpoints: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        service, sep, endpoint = item.partition("=")
        if not sep or service not in DEFAULT_HOSTS or not endpoint:
            raise EndpointError(
                f"endpoint override {item!r}: expected service=endpoint with service one of "
                f"{', '.join(sorted(DEFAULT_HOSTS))}"
            )
        if "://" not in endpoint:
            endpoint = f"grpc://{endpoint}"
        scheme = endpoint.split("://", 1)[0]
        if scheme not in {"http", "https", "grpc"}:
            raise EndpointError(f"endpoint override {item!r}: scheme must be http, https or grpc")
        if scheme == "grpc" and service in REST_ONLY:
            raise EndpointError(f"endpoint override {item!r}: {service} speaks REST only")
        if scheme != "grpc" and service in GRPC_ONLY:
            raise EndpointError(f"endpoint override {item!r}: {service} speaks gRPC only")
        endpoints[service] = endpoint
    return endpoints


class Clients:
    """Builds each client once, on first use; remembers services that did not answer."""

    def __init__(
        self, endpoints: Mapping[str, str], credentials: Callable[[], Any] | None = None
    ) -> None:
        self.endpoints = dict(endpoints)
        self._credentials_factory = credentials or _default_credentials
        self._credentials: Any = None
        self._built: dict[str, Any] = {}
        self._down: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    @property
    def all_overridden(self) -> bool:
        return set(DEFAULT_HOSTS) <= set(self.endpoints)

    def where(self, service: str) -> str:
        return self.endpoints.get(service, DEFAULT_HOSTS[service])

    def call(self, service: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)`; once a service was unreachable, later calls fail at once."""
        down = self._down.get(service)
        if down is not None:
            raise down
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if errors.is_unreachable(exc):
                self._down[service] = exc
            raise

    def rpc(self, service: str, method: Callable[..., T], **kwargs: Any) -> T:
        """A GAPIC (or Storage) method with the preflight's retry and timeout."""
        return self.call(service, method, retry=RETRY, timeout=TIMEOUT, **kwargs)

    def _creds(self, service: str) -> Any:
        if service in self.endpoints:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        with self._lock:
            if self._credentials is None:
                self._credentials = self._credentials_factory()
            return self._credentials

    def _gapic(self, service: str, client_class: Any, grpc_transport: Any = None) -> Any:
        """A GAPIC client: REST for http(s) overrides, insecure gRPC for grpc:// overrides."""
        endpoint = self.endpoints.get(service)
        credentials = self._creds(service)
        if endpoint is None:
            return client_class(credentials=credentials)
        if endpoint.startswith("grpc://"):
            import grpc

            channel = grpc.insecure_channel(endpoint.removeprefix("grpc://"))
            return client_class(transport=grpc_transport(channel=channel, credentials=credentials))
        return client_class(
            credentials=credentials, transport="rest", client_options={"api_endpoint": endpoint}
        )

    def _cached(self, service: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if service in self._built:
                return self._built[service]
        client = build()
        with self._lock:
            return self._built.setdefault(service, client)

    def projects(self) -> Any:
        from google.cloud import resourcemanager_v3

        return self._cached(
            "resourcemanager",
            lambda: self._gapic("resourcemanager", resourcemanager_v3.ProjectsClient),
        )

    def service_usage(self) -> Any:
        from google.cloud import service_usage_v1

        return self._cached(
            "serviceusage", lambda: self._gapic("serviceusage", service_usage_v1.ServiceUsageClient)
        )

    def secrets(self) -> Any:
        from google.cloud import secretmanager_v1
        from google.cloud.secretmanager_v1.services.secret_manager_service import transports

        return self._cached(
            "secretmanager",
            lambda: self._gapic(
                "secretmanager",
                secretmanager_v1.SecretManagerServiceClient,
                transports.SecretManagerServiceGrpcTransport,
            ),
        )

    def kms(self) -> Any:
        from google.cloud import kms_v1

        return self._cached("kms", lambda: self._gapic("kms", kms_v1.KeyManagementServiceClient))

    def channels(self) -> Any:
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.notification_channel_service import transports

        return self._cached(
            "monitoring",
            lambda: self._gapic(
                "monitoring",
                monitoring_v3.NotificationChannelServiceClient,
                transports.NotificationChannelServiceGrpcTransport,
            ),
        )

    def org_policy(self) -> Any:
        from google.cloud import orgpolicy_v2

        return self._cached(
            "orgpolicy", lambda: self._gapic("orgpolicy", orgpolicy_v2.OrgPolicyClient)
        )

    def storage(self, project_id: str) -> Any:
        def build() -> Any:
            from google.cloud.storage import Client as StorageClient

            endpoint = self.endpoints.get("storage")
            options = {"api_endpoint": endpoint} if endpoint else None
            return StorageClient(
                project=project_id, credentials=self._creds("storage"), client_options=options
            )

        return self._cached("storage", build)

    def iam(self) -> Any:
        """IAM v1 through the discovery client, from the document shipped in the wheel."""

        def build() -> Any:
            import google_auth_httplib2
            import httplib2
            from googleapiclient import discovery

            http = google_auth_httplib2.AuthorizedHttp(
                self._creds("iam"), http=httplib2.Http(timeout=TIMEOUT)
            )
            endpoint = self.endpoints.get("iam")
            return discovery.build(
                "iam",
                "v1",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": endpoint} if endpoint else None,
            )

        return self._cached("iam", build)


def _default_credentials() -> Any:
    import google.auth

    credentials, _ = google.auth.default(scopes=list(SCOPES))  # type: ignore[no-untyped-call]
    return credentials
