"""Admin endpoints, rate limiting, and the `cio-simulator` command as a process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cio_simulator import Simulator

from tests.simulator.conftest import SITE_ID, TRACK_KEY, Client, make_config

pytestmark = pytest.mark.integration


def test_requests_are_recorded_with_credentials_redacted(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"plan": "pro"})
    client.app("/v1/customers/42/attributes")
    entries = client.admin("GET", "requests").json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("PUT", "/api/v1/customers/42", 200),
        ("GET", "/v1/customers/42/attributes", 200),
    ]
    assert entries[0]["body"] == {"plan": "pro"}
    assert entries[0]["headers"]["Authorization"] == "Basic [redacted]"
    assert entries[1]["headers"]["Authorization"] == "Bearer [redacted]"
    assert TRACK_KEY not in str(entries)
    filtered = client.admin("GET", "requests", params={"path_prefix": "/v1/"}).json()["requests"]
    assert [e["path"] for e in filtered] == ["/v1/customers/42/attributes"]


def test_large_bodies_are_logged_by_size_only(client: Client) -> None:
    client.track("POST", "/api/v2/batch", json={"batch": [{"blob": "x" * 70_000}]})
    [entry] = client.admin("GET", "requests").json()["requests"]
    assert entry["body"]["_truncated"] is True
    assert entry["body"]["_bytes"] > 70_000


def test_reset_empties_state_log_and_counters(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"plan": "pro"})
    client.admin("POST", "seed", json={"segments": [{"id": 3, "name": "VIP"}]})
    assert client.admin("POST", "reset").status_code == 200
    state = client.state()
    assert state["people"] == [] and state["app"]["segments"] == []
    assert state["stats"]["requests"] == 0
    assert client.admin("GET", "requests").json()["requests"] == []


def test_unknown_admin_path_and_unknown_api_path_get_404(client: Client) -> None:
    assert client.admin("GET", "nothing").status_code == 404
    assert client.track("GET", "/api/v1/nothing").status_code == 404
    assert client.track("GET", "/elsewhere").status_code == 404


def test_wrong_method_gets_405(client: Client) -> None:
    assert client.track("GET", "/api/v1/customers/42").status_code == 405


def test_rate_limit_answers_429_with_retry_after_and_counts_them() -> None:
    sim = Simulator(make_config(rate_limit=5.0, rate_burst=5.0)).start()
    try:
        with requests.Session() as session:
            statuses = []
            for i in range(12):
                response = session.post(
                    f"{sim.url}/api/v1/customers/42/events",
                    json={"name": "e", "id": f"E{i}"},
                    auth=(SITE_ID, TRACK_KEY),
                    timeout=5,
                )
                statuses.append(response.status_code)
                if response.status_code == 429:
                    assert int(response.headers["Retry-After"]) >= 1
            limited = statuses.count(429)
            assert statuses[:5] == [200] * 5
            assert limited >= 5
            stats = session.get(f"{sim.url}/_admin/stats", timeout=5).json()
            assert stats["rate_limited_429"] == limited
            state = session.get(f"{sim.url}/_admin/state", timeout=5).json()
            assert len(state["events"]) == statuses.count(200)  # refused requests stored nothing
    finally:
        sim.stop()


def test_rate_limit_refills_over_time() -> None:
    sim = Simulator(make_config(rate_limit=20.0, rate_burst=1.0)).start()
    try:
        url = f"{sim.url}/api/v1/accounts/region"
        auth = (SITE_ID, TRACK_KEY)
        assert requests.get(url, auth=auth, timeout=5).status_code == 200
        assert requests.get(url, auth=auth, timeout=5).status_code == 429
        time.sleep(0.12)  # one token at 20/s takes 50 ms
        assert requests.get(url, auth=auth, timeout=5).status_code == 200
    finally:
        sim.stop()


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "cio_simulator.cli", "--port", "0", *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"no listening line from cio-simulator: {line!r}")
    return proc, match.group(0)


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


def test_cli_serves_with_flags_and_stops_on_sigterm(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text('{"segments": [{"id": 5, "name": "Trial"}]}')
    proc, url = _start_cli(
        "--site-id",
        "s1",
        "--track-api-key",
        "k1",
        "--region",
        "eu",
        "--rate-limit",
        "100",
        "--seed-file",
        str(seed),
    )
    try:
        region = requests.get(f"{url}/api/v1/accounts/region", auth=("s1", "k1"), timeout=5)
        assert region.json()["url"] == "https://track-eu.customer.io"
        state = requests.get(f"{url}/_admin/state", timeout=5).json()
        assert state["app"]["segments"][0]["name"] == "Trial"
        assert state["config"]["rate_limit"] == 100
    finally:
        assert _stop(proc) == 0


def test_cli_access_log_masks_emails_and_shows_outcomes() -> None:
    proc, url = _start_cli(
        "--log-requests", "--fault", "503:1.0", "--fault-path", "/api/v1/customers/x"
    )
    try:
        auth = ("sim-site-id", "sim-track-api-key")
        requests.put(
            f"{url}/api/v1/customers/ada@example.com", json={"plan": "pro"}, auth=auth, timeout=5
        )
        requests.put(f"{url}/api/v1/customers/x1", json={}, auth=auth, timeout=5)
    finally:
        assert _stop(proc) == 0
    assert proc.stdout is not None
    lines = proc.stdout.read().splitlines()
    assert lines[0].startswith("PUT /api/v1/customers/a***@example.com 200 created ")
    assert lines[1].startswith("PUT /api/v1/customers/x1 503 fault_503 ")
    assert "ada@" not in "\n".join(lines)


def test_app_api_rate_limit_is_separate_from_track() -> None:
    sim = Simulator(make_config(app_rate_limit=2.0)).start()
    try:
        app = [
            requests.get(
                f"{sim.url}/v1/campaigns",
                headers={"Authorization": "Bearer test-app-key"},
                timeout=5,
            ).status_code
            for _ in range(4)
        ]
        track = requests.get(
            f"{sim.url}/api/v1/accounts/region", auth=(SITE_ID, TRACK_KEY), timeout=5
        )
        assert app[:2] == [200, 200] and 429 in app[2:]
        assert track.status_code == 200
    finally:
        sim.stop()


def test_cli_rejects_bad_fault_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cio_simulator.cli", "--port", "0", "--fault", "700:0.5"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert "fault kind '700'" in result.stderr


def test_malformed_content_length_gets_400(simulator: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as sock:
        sock.sendall(b"PUT /api/v1/customers/1 HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 400")
    assert "invalid Content-Length" in answer


def test_restarted_simulator_serves_again() -> None:
    sim = Simulator(make_config())
    for _ in range(2):
        sim.start()
        try:
            assert requests.get(f"{sim.url}/_admin/health", timeout=5).json() == {"ok": True}
        finally:
            sim.stop()


def test_cli_refuses_to_start_without_the_reference_documents(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cio_simulator.cli", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "CIO_SIM_REFERENCE_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "track-api.openapi.json) not found" in result.stderr
    assert str(tmp_path) in result.stderr
