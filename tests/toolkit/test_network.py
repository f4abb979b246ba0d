"""`cio-doctor network` against local servers: TLS with a short-lived certificate, a refusing
port, a slow responder, a status page with an incident, and a fake Cloud Monitoring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import free_port
from tests.toolkit.doctor import run
from tests.toolkit.local_servers import http_server, make_certificates

pytestmark = pytest.mark.integration

OPERATIONAL = {
    "status": {"indicator": "none", "description": "All Systems Operational"},
    "components": [{"name": "Track API", "status": "operational"}],
    "incidents": [],
}
INCIDENT = {
    "status": {"indicator": "major", "description": "Partial System Outage"},
    "components": [
        {"name": "Track API", "status": "major_outage"},
        {"name": "UI", "status": "operational"},
    ],
    "incidents": [
        {
            "name": "Elevated Track API errors",
            "status": "investigating",
            "impact": "major",
            "updated_at": "2026-11-23T10:00:00Z",
        }
    ],
}


def _network(track: str, app: str, status: str, *extra: str, env: dict | None = None):
    return run(
        [
            "network",
            "--json",
            "--samples",
            "3",
            "--status-url",
            status,
            "--budget",
            "50",
            "--observed-rps",
            "10",
            *extra,
        ],
        env={"CIO_TRACK_URL": track, "CIO_APP_URL": app, **(env or {})},
    )


def _check(report: dict, prefix: str) -> dict:
    return next(c for c in report["checks"] if c["name"].startswith(prefix))


def test_healthy_tls_endpoints(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, days=90)
    routes: dict[str, Callable] = {"/api/v1/accounts/region": lambda h: (200, {"region": "us"})}
    with (
        http_server(routes, tls=certs.context) as (api, recorder),
        http_server({"/summary.json": lambda h: (200, OPERATIONAL)}) as (status, _),
    ):
        result = _network(api, api, f"{status}/summary.json", "--ca-file", str(certs.ca_file))
    assert result.code == 0, result.stdout + result.stderr
    track = _check(result.json, "track")["data"]
    assert track["track.dns"]["addresses"] == ["127.0.0.1"]
    chain = track["track.certificate_chain"]
    assert [c["subject"] for c in chain] == ["CN=track.test", "CN=cio-doctor test CA"]
    assert 89 < chain[0]["days_left"] <= 90
    assert track["track.http"]["statuses"] == {"200": 3}
    assert {"p50_ms", "p90_ms", "p99_ms", "max_ms"} <= set(track["track.http"])
    assert _check(result.json, "rate-limit")["data"]["rate_limit"]["headroom_per_second"] == 40
    assert all(r["method"] == "GET" for r in recorder.requests)


def test_short_lived_certificate_refused_port_and_incident(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, days=3)
    refused = free_port()
    with (
        http_server(tls=certs.context) as (api, _),
        http_server({"/summary.json": lambda h: (200, INCIDENT)}) as (status, _),
    ):
        result = _network(
            api,
            f"http://127.0.0.1:{refused}",
            f"{status}/summary.json",
            "--ca-file",
            str(certs.ca_file),
        )
    assert result.code == 1, result.stderr
    codes = result.finding_codes()
    assert "track_certificate_expiry" in codes
    assert "app_tcp_failed" in codes
    assert "customerio_incident" in codes
    expiry = next(f for f in result.json["findings"] if f["code"] == "track_certificate_expiry")
    assert expiry["severity"] == "high"
    assert result.json["findings"][0]["severity"] == "critical"


def test_untrusted_certificate_still_reports_its_expiry(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, days=60)
    with (
        http_server(tls=certs.context) as (api, _),
        http_server({"/s": lambda h: (200, OPERATIONAL)}) as (status, _),
    ):
        result = _network(api, api, f"{status}/s")
    assert result.code == 1
    assert "track_tls_untrusted" in result.finding_codes()
    assert _check(result.json, "track")["data"]["track.certificate_chain"][0]["days_left"] > 59


def test_slow_responder_times_out(tmp_path: Path) -> None:
    with (
        http_server(delay=1.5) as (slow, _),
        http_server() as (fast, _),
        http_server({"/s": lambda h: (200, OPERATIONAL)}) as (status, _),
    ):
        result = _network(slow, fast, f"{status}/s", "--timeout", "0.5")
    assert result.code == 1
    assert "track_http_errors" in result.finding_codes()
    assert _check(result.json, "track")["data"]["track.http"]["errors"] == {"timeout": 3}


def test_headroom_from_cloud_monitoring_and_over_budget(
    make_env: Callable[..., str], env_dir: Path
) -> None:
    env = make_env()
    series = {
        "timeSeries": [
            {"metric": {"labels": {"decision": d}}, "points": [{"value": {"doubleValue": v}}]}
            for d, v in (("delivered", 60.0), ("retry", 2.5), ("quarantined", 4.0))
        ]
    }
    with (
        http_server() as (api, _),
        http_server({"/v3/projects/doctor-test/timeSeries": lambda h: (200, series)}) as (
            monitoring,
            recorder,
        ),
        http_server({"/s": lambda h: (200, OPERATIONAL)}) as (status, _),
    ):
        result = run(
            ["network", "--json", "--samples", "1", "--status-url", f"{status}/s", "--env", env],
            env={
                "CIO_TRACK_URL": api,
                "CIO_APP_URL": api,
                "CIO_DOCTOR_ENV_DIR": str(env_dir),
                "MONITORING_API_ENDPOINT": monitoring,
                "CIO_SITE_ID": "site",
                "CIO_TRACK_API_KEY": "k",
                "CIO_APP_API_KEY": "a",
            },
        )
    assert result.code == 1, result.stderr
    rate = _check(result.json, "rate-limit")["data"]["rate_limit"]
    assert rate == {
        "budget_per_second": 50,
        "observed_per_second": 62.5,
        "observed_from": "cloud-monitoring",
        "headroom_per_second": -12.5,
        "used_fraction": 1.25,
    }
    assert "over_request_budget" in result.finding_codes()
    assert f"cio-{env}-handler-decisions" in recorder.requests[0]["path"]


def test_unreadable_status_page_and_refused_apis() -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    result = run(
        ["network", "--json", "--samples", "1", "--status-url", f"{refused}/s", "--budget", "10"],
        env={"CIO_TRACK_URL": refused, "CIO_APP_URL": refused},
    )
    assert result.code == 1
    codes = result.finding_codes()
    assert {"track_tcp_failed", "app_tcp_failed", "status_page_unreachable"} <= set(codes)
    assert "observed_rate_unknown" in codes
