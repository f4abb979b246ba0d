"""`cio-doctor api`: one Track or App API call (or a harmless probe), shown in full, safely.

Read-only by default: a method other than GET needs --write, since a debug session must not
change a workspace by accident.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cio_doctor.cio_http import Call, CioClient, Trace, app_client, explain_failure, track_client
from cio_doctor.config import Settings
from cio_doctor.findings import CannotCheck, Check, Report, Severity, running_check

CallSpec = tuple[str, str, str, dict[str, str], Any]  # api, method, path, params, body
PROBES = {"track": "/api/v1/accounts/region", "app": "/v1/segments"}
_STATUS_ADVICE = {
    400: "The request is malformed: compare the body with the API reference.",
    401: "Check the credentials (site id + Track API key, or the App API key) and the region.",
    403: "The key lacks permission for this call (App API key scope).",
    404: "Wrong path or id, or the object lives in another workspace/region.",
    413: "The body is too large: see the Track API payload limits.",
    429: "Rate limited: back off (Retry-After) and check the request budget.",
}


def parse_body(data: str | None) -> Any:
    """`--data` as inline JSON or `@file`."""
    if data is None:
        return None
    text = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CannotCheck(f"--data is not JSON: {exc}") from None


def parse_params(params: list[str]) -> dict[str, str]:
    parsed = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CannotCheck(f"--param {item!r} is not key=value")
        parsed[key] = value
    return parsed


def record(check: Check, call: Call) -> None:
    """Describe one call in `check`; an error answer is a finding, no answer is not checked."""
    check.data.update(
        {
            "request": f"{call.method} {call.url}",
            "request_headers": call.request_headers,
            "request_body": call.request_body,
            "status": call.status,
            "latency_ms": round(call.latency_ms, 1),
            "request_id": call.request_id,
            "response_body": call.response_body,
        }
    )
    if call.transport_error:
        raise CannotCheck(explain_failure(call, f"{call.api} API"))
    if not call.ok:
        status = call.status or 0
        severity = Severity.HIGH if status in (401, 403) or status >= 500 else Severity.MEDIUM
        check.add(
            severity,
            f"http_{status}",
            explain_failure(call, f"{call.api} API"),
            f"Customer.io said: {call.error_message}" if call.error_message else "",
            _STATUS_ADVICE.get(
                status,
                "A Customer.io-side error: retry, check the status page." if status >= 500 else "",
            ),
        )


def run_calls(clients: dict[str, CioClient], calls: list[CallSpec]) -> Report:
    """Each (api, method, path, params, body) in turn, one check per call."""
    report = Report("api")
    for api, method, path, params, body in calls:
        with running_check(f"{api} {method} {path}") as check:
            record(check, clients[api].request(method, path, params, body))
        report.checks.append(check)
    return report


def probe(settings: Settings, trace: Trace | None = None) -> Report:
    """A harmless authenticated GET on each API; the Track probe also says which region the
    credentials belong to, so a workspace configured in the wrong region shows up."""
    clients = {"track": track_client(settings, trace), "app": app_client(settings, trace)}
    report = run_calls(clients, [(a, "GET", p, {}, None) for a, p in PROBES.items()])
    track = report.checks[0]
    answer = clients["track"].calls[0].json() if clients["track"].calls else None
    body: dict[str, Any] = answer if isinstance(answer, dict) else {}
    actual = body.get("region")
    if actual and actual != settings.region:
        track.add(
            Severity.HIGH,
            "region_mismatch",
            f"the Track credentials belong to the {actual} region, configured: {settings.region}",
            f"Customer.io says: use {body.get('url')}." if body.get("url") else "",
            f"Set customerio.region: {actual} in the environment file (or CIO_REGION={actual}).",
        )
    return report
