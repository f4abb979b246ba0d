"""`cio-doctor api`: one Track, App or Pipelines API call (or a harmless probe), shown in full.

Read-only by default: a method other than GET needs --write, since a debug session must not
change a workspace by accident.

The probe follows the environment's delivery API (`customerio.api`, else `CIO_DELIVERY_API`):
the Track API's region endpoint, or for `pipelines` a strict-mode call that cannot create
anything (see `probe_pipelines`), and the App API's segments either way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cio_shared import contract

from cio_doctor.cio_http import (
    Call,
    CioClient,
    Trace,
    app_client,
    basic_auth,
    explain_failure,
    track_client,
)
from cio_doctor.config import Settings
from cio_doctor.findings import CannotCheck, Check, Report, Severity, running_check

CallSpec = tuple[str, str, str, dict[str, str], Any]  # api, method, path, params, body
PROBES = {"track": "/api/v1/accounts/region", "app": "/v1/segments"}
# Strict mode (pipelines-api.openapi.json, `X-Strict-Mode`): 400 for an invalid call, 401 for a
# refused key. An empty track call is invalid (no `event`, no `userId`), so the key is checked
# and nothing is created.
PIPELINES_PROBE: tuple[str, str, dict[str, Any]] = ("POST", "/v1/track", {})
STRICT_HEADERS = {"X-Strict-Mode": "1"}
# checked before Customer.io looks at the body: an invalid body after a 401 says nothing
KEY_ACCEPTED = frozenset({200, 400})
_STATUS_ADVICE = {
    400: "The request is malformed: compare the body with the API reference.",
    401: "Check the credentials (site id + Track API key, App or Pipelines key) and the region.",
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
    describe(check, call)
    if not call.ok:
        add_status_finding(check, call)


def describe(check: Check, call: Call) -> None:
    """The call in `check.data`; no answer at all is not checked."""
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


def add_status_finding(check: Check, call: Call) -> None:
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


def delivery_api(settings: Settings) -> str:
    """`customerio.api` of --env, else `CIO_DELIVERY_API`, else `track`."""
    if settings.env is not None:
        return settings.env.delivery_api
    return (os.environ.get(contract.DELIVERY_API) or "track").strip().lower()


def pipelines_url(region: str) -> str:
    """The region's Pipelines host; `CIO_PIPELINES_URL_<REGION>` overrides it (tests, proxies)."""
    override = os.environ.get(f"CIO_PIPELINES_URL_{region.upper()}")
    return (override or contract.PIPELINES_URLS[region]).rstrip("/")


def pipelines_client(
    settings: Settings, trace: Trace | None = None, region: str | None = None
) -> CioClient:
    """Basic auth with the Pipelines key and a blank password, always in strict mode.
    `CIO_PIPELINES_URL` (the handlers' override) sets the configured region's host."""
    region = region or settings.region
    override = os.environ.get("CIO_PIPELINES_URL") if region == settings.region else None
    url = (override or pipelines_url(region)).rstrip("/")
    auth = basic_auth(settings.secret(contract.PIPELINES_SECRET).reveal(), "")
    return CioClient("pipelines", url, auth, settings.timeout, trace, headers=STRICT_HEADERS)


def probe(settings: Settings, trace: Trace | None = None) -> Report:
    """A harmless authenticated call on each API the environment uses: Track (or Pipelines)
    and App. The Track probe says which region the credentials belong to; the Pipelines probe
    tries the other region's host when the key is refused, so a key from the wrong region or
    workspace shows up."""
    if delivery_api(settings) == "pipelines":
        first = probe_pipelines(settings, trace)
        app = {"app": app_client(settings, trace)}
        report = run_calls(app, [("app", "GET", PROBES["app"], {}, None)])
        report.checks.insert(0, first)
        return report
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


def probe_pipelines(settings: Settings, trace: Trace | None = None) -> Check:
    """The strict-mode probe: 400 (or 200) means the key was accepted, 401 refused. A refused
    key is tried on the other region's host: accepted there, it is a key from the wrong region;
    refused there too, a key of another workspace, or revoked."""
    method, path, body = PIPELINES_PROBE
    with running_check(f"pipelines {method} {path} (strict mode, invalid body)") as check:
        call = pipelines_client(settings, trace).request(method, path, body=body)
        describe(check, call)
        if call.status in KEY_ACCEPTED:
            check.data["key"] = "accepted"
        elif call.status == 401:
            _refused_key(check, settings, trace)
        else:
            add_status_finding(check, call)
    return check


def _refused_key(check: Check, settings: Settings, trace: Trace | None) -> None:
    method, path, body = PIPELINES_PROBE
    (other,) = set(contract.PIPELINES_URLS) - {settings.region}
    call = pipelines_client(settings, trace, region=other).request(method, path, body=body)
    check.data["other_region"] = {"region": other, "request": call.url, "status": call.status}
    if call.status in KEY_ACCEPTED:
        check.data["key"] = f"accepted in {other} only"
        check.add(
            Severity.HIGH,
            "pipelines_key_wrong_region",
            f"the Pipelines API key belongs to the {other} region, configured: {settings.region}",
            f"{pipelines_url(settings.region)} refused it (401), {pipelines_url(other)} did not.",
            f"Set customerio.region: {other} in the environment file (or CIO_REGION={other}), "
            f"or add the {settings.region} workspace's key as a new secret version.",
        )
        return
    if call.status != 401:  # the other region could not tell (no answer, 429, 5xx)
        check.add(
            Severity.HIGH,
            "http_401",
            f"the Pipelines API key is refused in the {settings.region} region (401)",
            f"The {other} region could not tell: {explain_failure(call, 'pipelines API')}",
            _STATUS_ADVICE[401],
        )
        return
    check.data["key"] = "refused in both regions"
    check.add(
        Severity.HIGH,
        "pipelines_key_refused",
        "the Pipelines API key is refused in both regions: wrong workspace or revoked key",
        f"{pipelines_url(settings.region)} and {pipelines_url(other)} answered 401.",
        "In the workspace, Data & Integrations > Integrations > Customer.io API shows the source's "
        f"key: add it as a new version of the {contract.PIPELINES_SECRET} secret (cio-doctor "
        "secrets checks the version in use).",
    )
