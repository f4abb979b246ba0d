"""Read-only calls to Google REST APIs (Cloud Run, Cloud Monitoring) with ADC.

These two APIs are read through REST rather than their client libraries: a GET each, no extra
dependency. `<NAME>_API_ENDPOINT` (e.g. CLOUDRUN_API_ENDPOINT, MONITORING_API_ENDPOINT) points
a call at a local server with no credentials, the convention cio_shared.common.google_clients uses
for BigQuery and Secret Manager.
"""

from __future__ import annotations

import os
from typing import Any

import requests

from cio_doctor.findings import CannotCheck
from cio_doctor.gcloud import google_client

_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _session(endpoint_var: str, default_base: str) -> tuple[Any, str]:
    override = os.environ.get(endpoint_var)
    if override:
        base = override if "://" in override else f"http://{override}"
        return requests.Session(), base.rstrip("/")

    def authorized() -> Any:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(scopes=[_SCOPE])  # type: ignore[no-untyped-call]
        return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]

    return google_client(authorized, default_base), default_base


def get_json(
    endpoint_var: str,
    default_base: str,
    path: str,
    params: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Any:
    session, base = _session(endpoint_var, default_base)
    url = f"{base}/{path.lstrip('/')}"
    try:
        response = session.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise CannotCheck(f"cannot reach {base}: {type(exc).__name__}") from None
    if response.status_code != 200:
        try:
            message = response.json().get("error", {}).get("message", "")
        except ValueError:
            message = response.text[:200]
        raise CannotCheck(f"{base} answered {response.status_code} for {path}: {message}")
    return response.json()
