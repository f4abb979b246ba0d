"""Run the network checks for both Customer.io APIs and assemble one report."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from cio_doctor import network, rates
from cio_doctor.config import Settings
from cio_doctor.findings import CannotCheck, Check, Report, Severity, running_check
from cio_doctor.network import Endpoint

TRACK_PROBE = "/api/v1/accounts/region"
APP_PROBE = "/v1/info/ip_addresses"


def _auth(settings: Settings, api: str) -> str | None:
    """Probes authenticate when credentials are at hand (then a 401 is a finding too)."""
    from cio_doctor.cio_http import basic_auth

    try:
        if api == "track":
            return basic_auth(*settings.track_auth())
        return f"Bearer {settings.app_token()}"
    except CannotCheck:
        return None


def endpoints(settings: Settings) -> list[Endpoint]:
    return [
        Endpoint("track", settings.track_url, TRACK_PROBE, _auth(settings, "track")),
        Endpoint("app", settings.app_url, APP_PROBE, _auth(settings, "app")),
    ]


def _connectivity(ep: Endpoint, samples: int, timeout: float, ca_file: str | None) -> Check:
    with running_check(f"{ep.name} API {ep.host}") as check:
        addresses = network.check_dns(check, ep)
        if addresses and network.check_tcp(check, ep, addresses[0], timeout):
            if ep.is_tls:
                network.check_tls(check, ep, addresses[0], timeout, ca_file)
            network.check_http(check, ep, samples, timeout, ca_file)
    return check


def _observed(settings: Settings, observed_rps: float | None) -> tuple[float | None, str]:
    if observed_rps is not None:
        return observed_rps, "--observed-rps"
    if settings.env is None:
        return None, "no --env: the metric's project is unknown"
    try:
        return rates.observed_rate(settings.env, timeout=settings.timeout), "cloud-monitoring"
    except CannotCheck as exc:
        return None, f"cloud monitoring: {exc}"


def network_report(
    settings: Settings,
    samples: int,
    ca_file: str | None,
    status_url: str | None,
    observed_rps: float | None,
    budget: int | None,
) -> Report:
    report = Report("network", settings.region)
    eps = endpoints(settings)
    with ThreadPoolExecutor(max_workers=len(eps)) as pool:
        report.checks.extend(
            pool.map(lambda ep: _connectivity(ep, samples, settings.timeout, ca_file), eps)
        )
    with running_check("rate-limit headroom") as headroom:
        chosen = budget or (settings.env.request_budget_per_second if settings.env else None)
        if chosen is None:
            # Informational: the budget is the environment's, and DNS, TCP, TLS and HTTP say
            # nothing about it, so its absence must not turn a healthy network into exit 2.
            headroom.data["skipped"] = "no request budget: pass --budget or --env"
            headroom.add(
                Severity.INFO,
                "headroom_not_checked",
                "rate-limit headroom not checked: no request budget",
                "The budget comes from the environment file (customerio."
                "request_budget_per_second) or --budget.",
                "Run with --env ENV (or --budget N --observed-rps R) for the headroom.",
            )
        else:
            observed, source = _observed(settings, observed_rps)
            network.check_headroom(headroom, chosen, observed, source)
    report.checks.append(headroom)
    with running_check("Customer.io status page") as status:
        url = status_url or os.environ.get("CIO_STATUS_URL") or network.DEFAULT_STATUS_URL
        status.data["url"] = url
        network.check_status_page(status, url, settings.timeout, ca_file)
    report.checks.append(status)
    return report
