"""`cio-doctor network`: DNS, TCP, TLS, HTTP latency, rate-limit headroom, Customer.io status.

Only reads: HTTP probes are GETs of harmless endpoints, and the rate-limit headroom is worked
out from configuration and monitoring, never by sending traffic to Customer.io.
"""

from __future__ import annotations

import math
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from cio_doctor.findings import Check, Severity

CERT_WARN_DAYS = 21
CERT_CRITICAL_DAYS = 7
SLOW_P90_MS = 1500
DEFAULT_STATUS_URL = "https://status.customerio.com/api/v2/summary.json"
# Customer.io's documented Track API guidance: about 100 requests per second per workspace.
TRACK_DOCUMENTED_LIMIT_RPS = 100


@dataclass(frozen=True)
class Endpoint:
    name: str  # track | app
    url: str
    probe_path: str
    auth_header: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def is_tls(self) -> bool:
        return urlsplit(self.url).scheme == "https"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def check_dns(check: Check, ep: Endpoint) -> list[str]:
    start = time.perf_counter()
    try:
        infos = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        check.add(
            Severity.CRITICAL,
            f"{ep.name}_dns_failed",
            f"{ep.host} does not resolve",
            str(exc),
            "Check the resolver (/etc/resolv.conf, VPC DNS) and the region's host name.",
        )
        return []
    addresses = sorted({str(info[4][0]) for info in infos})
    check.data[f"{ep.name}.dns"] = {
        "host": ep.host,
        "addresses": addresses,
        "ms": round((time.perf_counter() - start) * 1000, 1),
    }
    return addresses


def check_tcp(check: Check, ep: Endpoint, address: str, timeout: float) -> bool:
    start = time.perf_counter()
    try:
        with socket.create_connection((address, ep.port), timeout=timeout):
            pass
    except TimeoutError:
        check.add(
            Severity.CRITICAL,
            f"{ep.name}_tcp_timeout",
            f"TCP connect to {ep.host}:{ep.port} timed out after {timeout:g} s",
            f"address {address}",
            "Check egress firewall rules / VPC connector and NAT.",
        )
        return False
    except OSError as exc:
        check.add(
            Severity.CRITICAL,
            f"{ep.name}_tcp_failed",
            f"TCP connect to {ep.host}:{ep.port} failed: {exc.strerror or exc}",
            f"address {address}",
            "Connection refused means nothing listens there: check the URL/port and any "
            "proxy; from Cloud Run check egress settings.",
        )
        return False
    check.data[f"{ep.name}.tcp"] = {
        "address": address,
        "port": ep.port,
        "connect_ms": round((time.perf_counter() - start) * 1000, 1),
    }
    return True


def _describe_cert(der: bytes) -> dict[str, Any]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    not_after = cert.not_valid_after_utc
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": not_after.isoformat(),
        "days_left": round((not_after - datetime.now(UTC)).total_seconds() / 86400, 1),
    }


def _handshake(
    ep: Endpoint, address: str, context: ssl.SSLContext, timeout: float
) -> tuple[list[bytes], str, float]:
    start = time.perf_counter()
    with (
        socket.create_connection((address, ep.port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=ep.host) as tls,
    ):
        elapsed = (time.perf_counter() - start) * 1000
        ders = _chain(tls, verified=context.verify_mode != ssl.CERT_NONE)
        return ders, str(tls.version()), elapsed


def _chain(tls: ssl.SSLSocket, verified: bool) -> list[bytes]:
    """The peer's certificate chain as DER, leaf first.

    Python 3.13 has it as a public method; 3.11 and 3.12 have it on the private SSL object;
    failing both, the leaf alone.
    """
    name = "get_verified_chain" if verified else "get_unverified_chain"
    public = getattr(tls, name, None)
    if public is not None:
        return [bytes(cert) for cert in public()]
    private = getattr(getattr(tls, "_sslobj", None), name, None)
    if private is not None:
        return [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in private()]  # type: ignore[attr-defined]
    return [tls.getpeercert(binary_form=True) or b""]


def check_tls(
    check: Check, ep: Endpoint, address: str, timeout: float, ca_file: str | None
) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    try:
        ders, version, elapsed = _handshake(ep, address, context, timeout)
    except ssl.SSLCertVerificationError as exc:
        check.add(
            Severity.CRITICAL,
            f"{ep.name}_tls_untrusted",
            f"TLS certificate of {ep.host} not trusted: {exc.verify_message}",
            "Clients refuse the connection.",
            "If a proxy intercepts TLS, install its CA; if the certificate expired, "
            "check Customer.io's status page.",
        )
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        try:
            ders, version, elapsed = _handshake(ep, address, unverified, timeout)
        except (OSError, ssl.SSLError):
            return
    except (OSError, ssl.SSLError) as exc:
        check.add(
            Severity.CRITICAL,
            f"{ep.name}_tls_failed",
            f"TLS handshake with {ep.host} failed: {type(exc).__name__}",
            str(exc)[:200],
            "Check for a proxy or firewall that intercepts TLS.",
        )
        return
    chain = [_describe_cert(der) for der in ders if der]
    check.data[f"{ep.name}.tls"] = {"version": version, "handshake_ms": round(elapsed, 1)}
    check.data[f"{ep.name}.certificate_chain"] = chain
    _expiry_findings(check, ep, chain)


def _expiry_findings(check: Check, ep: Endpoint, chain: list[dict[str, Any]]) -> None:
    if not chain:
        return
    soonest = min(chain, key=lambda c: c["days_left"])
    days = soonest["days_left"]
    if days < 0:
        severity, title = Severity.CRITICAL, f"a certificate of {ep.host} has expired"
    elif days < CERT_CRITICAL_DAYS:
        severity, title = Severity.HIGH, f"a certificate of {ep.host} expires in {days} days"
    elif days < CERT_WARN_DAYS:
        severity, title = Severity.LOW, f"a certificate of {ep.host} expires in {days} days"
    else:
        return
    check.add(
        severity,
        f"{ep.name}_certificate_expiry",
        title,
        f"{soonest['subject']} (issuer {soonest['issuer']}) not after {soonest['not_after']}",
        "Customer.io renews its certificates; if this persists, tell Customer.io support "
        "and check whether a proxy presents its own certificate.",
    )


def check_http(
    check: Check, ep: Endpoint, samples: int, timeout: float, ca_file: str | None
) -> None:
    session = requests.Session()
    headers = {"Authorization": ep.auth_header} if ep.auth_header else {}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for _ in range(samples):
        start = time.perf_counter()
        try:
            response = session.get(
                f"{ep.url}{ep.probe_path}",
                headers=headers,
                timeout=timeout,
                verify=ca_file or True,
                allow_redirects=False,
            )
        except requests.Timeout:
            errors["timeout"] = errors.get("timeout", 0) + 1
            continue
        except requests.RequestException as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            continue
        latencies.append((time.perf_counter() - start) * 1000)
        statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
    row: dict[str, Any] = {
        "probe": f"GET {ep.probe_path}",
        "samples": samples,
        "statuses": statuses,
        "errors": errors,
    }
    if latencies:
        row.update({f"p{p}_ms": round(percentile(latencies, p), 1) for p in (50, 90, 99)})
        row["max_ms"] = round(max(latencies), 1)
    check.data[f"{ep.name}.http"] = row
    if errors:
        check.add(
            Severity.HIGH if not latencies else Severity.MEDIUM,
            f"{ep.name}_http_errors",
            f"{sum(errors.values())} of {samples} requests to {ep.host} failed",
            ", ".join(f"{k}={v}" for k, v in errors.items()),
            f"Requests time out after {timeout:g} s: check Customer.io's status page and "
            "egress; handlers retry, so expect a growing backlog.",
        )
    if latencies and percentile(latencies, 90) > SLOW_P90_MS:
        check.add(
            Severity.MEDIUM,
            f"{ep.name}_http_slow",
            f"{ep.host} is slow: p90 {percentile(latencies, 90):.0f} ms",
            "",
            "Compare with Customer.io's status page; raise CIO_TIMEOUT_SECONDS only if "
            "the handlers time out.",
        )
    server_errors = sum(n for s, n in statuses.items() if s.startswith("5"))
    if server_errors:
        check.add(
            Severity.HIGH,
            f"{ep.name}_http_5xx",
            f"{server_errors} of {samples} probes answered 5xx",
            str(statuses),
            "A Customer.io-side problem: check the status page; the handlers retry.",
        )
    if statuses.get("401") and ep.auth_header:
        check.add(
            Severity.HIGH,
            f"{ep.name}_credentials_rejected",
            f"{ep.name} credentials rejected (401)",
            "",
            "Check the key in Secret Manager and that the region matches the workspace.",
        )


def check_status_page(check: Check, url: str, timeout: float, ca_file: str | None) -> None:
    try:
        response = requests.get(url, timeout=timeout, verify=ca_file or True)
        summary = response.json()
    except (requests.RequestException, ValueError) as exc:
        check.add(
            Severity.LOW,
            "status_page_unreachable",
            "Customer.io's status page could not be read",
            type(exc).__name__,
            "Open status.customerio.com in a browser.",
        )
        return
    status = summary.get("status", {}) if isinstance(summary, dict) else {}
    indicator = status.get("indicator", "unknown")
    components = [c for c in summary.get("components", []) if c.get("status") != "operational"]
    incidents = [i for i in summary.get("incidents", []) if i.get("status") != "resolved"]
    check.data["status_page"] = {"indicator": indicator, "description": status.get("description")}
    if components:
        check.data["degraded_components"] = [
            {"name": c.get("name"), "status": c.get("status")} for c in components
        ]
    if incidents:
        check.data["open_incidents"] = [
            {
                "name": i.get("name"),
                "status": i.get("status"),
                "impact": i.get("impact"),
                "updated_at": i.get("updated_at"),
            }
            for i in incidents
        ]
    if indicator not in ("none", "unknown") or incidents:
        severity = {"critical": Severity.CRITICAL, "major": Severity.HIGH}.get(
            indicator, Severity.MEDIUM
        )
        check.add(
            severity,
            "customerio_incident",
            f"Customer.io reports: {status.get('description') or indicator}",
            "; ".join(str(i.get("name")) for i in incidents[:3]),
            "Follow the incident on status.customerio.com; the handlers retry and dead-letter "
            "after max attempts, replay those after it is resolved.",
        )


def check_headroom(check: Check, budget: int, observed: float | None, source: str) -> None:
    """Headroom = configured request budget - observed request rate (no traffic is sent)."""
    row: dict[str, Any] = {
        "budget_per_second": budget,
        "observed_per_second": observed,
        "observed_from": source,
    }
    if budget > TRACK_DOCUMENTED_LIMIT_RPS:
        check.add(
            Severity.MEDIUM,
            "budget_above_documented_limit",
            f"request budget {budget}/s is above Customer.io's ~{TRACK_DOCUMENTED_LIMIT_RPS}/s",
            "Bursts above the limit get 429s.",
            "Lower customerio.request_budget_per_second, or ask Customer.io for more.",
        )
    if observed is None:
        check.data["rate_limit"] = row
        check.add(
            Severity.INFO,
            "observed_rate_unknown",
            "observed request rate unknown",
            source,
            "Pass --observed-rps, or run with --env and monitoring access.",
        )
        return
    headroom = budget - observed
    row["headroom_per_second"] = round(headroom, 2)
    row["used_fraction"] = round(observed / budget, 3) if budget else None
    check.data["rate_limit"] = row
    if headroom < 0:
        check.add(
            Severity.HIGH,
            "over_request_budget",
            f"observed {observed:.1f}/s exceeds the budget of {budget}/s",
            "Expect 429s, retries and growing latency.",
            "Find the burst source (dlq replay? a backfill?) and slow it down.",
        )
    elif observed > 0.8 * budget:
        check.add(
            Severity.MEDIUM,
            "near_request_budget",
            f"observed {observed:.1f}/s uses {observed / budget:.0%} of the {budget}/s budget",
            "",
            "Hold back replays and backfills until traffic drops.",
        )
