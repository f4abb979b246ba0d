"""Behaviour every command shares: the progress display, start-up, help, bad input."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.support.processes import free_port
from tests.toolkit.doctor import REPO, run
from tests.toolkit.local_servers import http_server

STATUS = {"status": {"indicator": "none"}, "components": [], "incidents": []}


def _run_in_terminal(args: list[str], env: dict[str, str], limit: float = 30) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as an engineer would."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_doctor", *args],
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(10), b"".join(chunks).decode(errors="replace")


@pytest.mark.integration
def test_slow_checks_show_progress_on_a_terminal_and_not_in_json() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'toolkit'}:{REPO / 'functions'}",
        "COLUMNS": "120",
        "TERM": "xterm",
    }
    with (
        http_server(delay=0.6) as (slow, _),
        http_server({"/s": lambda h: (200, STATUS)}) as (status, _),
    ):
        args = [
            "network",
            "--samples",
            "3",
            "--budget",
            "10",
            "--observed-rps",
            "1",
            "--status-url",
            f"{status}/s",
        ]
        env.update({"CIO_TRACK_URL": slow, "CIO_APP_URL": slow})
        code, screen = _run_in_terminal(args, env)
        assert code == 0, screen
        assert "checking the network" in screen
        assert "cio-doctor network" in screen
        piped = run([*args, "--json"], env={"CIO_TRACK_URL": slow, "CIO_APP_URL": slow})
    assert "checking the network" not in piped.stdout + piped.stderr


def test_help_lists_every_command() -> None:
    result = run(["--help"])
    assert result.code == 0
    for command in ("api", "user", "campaign", "webhook", "network", "dlq", "secrets", "incident"):
        assert command in result.stdout


def test_usage_errors_exit_2() -> None:
    assert run(["user"]).code == 2
    assert run(["network", "--samples", "0"]).code == 2
    bad_env = run(["user", "42", "--env", "Bad_Name", "--json"])
    assert bad_env.code == 2
    assert "environment name" in bad_env.json["error"]
    missing = run(["user", "42", "--env", "nosuchenv", "--json"])
    assert missing.code == 2
    assert "no environment file" in missing.json["error"]


def test_no_google_credentials_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "envx.yaml").write_text("project_id: doctor-test\n")
    result = run(
        ["dlq", "list", "--env", "envx", "--json"],
        env={
            "CIO_DOCTOR_ENV_DIR": str(tmp_path),
            "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing.json"),
            "PUBSUB_EMULATOR_HOST": "",
        },
    )
    assert result.code == 2
    assert "no Google credentials" in result.json["checks"][0]["error"]


def test_refused_app_api_cannot_check() -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    result = run(["campaign", "1", "--json"], env={"CIO_APP_URL": refused, "CIO_APP_API_KEY": "k"})
    assert result.code == 2
    assert "connection failed" in result.json["checks"][0]["error"]


def test_wrong_types_in_the_environment_file_and_a_bad_trace_folder(tmp_path) -> None:
    (tmp_path / "typo.yaml").write_text(
        "project_id: doctor-test\ncustomerio: {request_budget_per_second: lots}\n"
    )
    result = run(["network", "--env", "typo", "--json"], env={"CIO_DOCTOR_ENV_DIR": str(tmp_path)})
    assert result.code == 2
    assert "wrong type" in result.json["error"]
    trace = run(
        ["api", "probe", "--trace", str(tmp_path / "no" / "t.jsonl"), "--json"],
        env={"CIO_APP_API_KEY": "k", "CIO_SITE_ID": "s", "CIO_TRACK_API_KEY": "t"},
    )
    assert trace.code == 2
    assert "does not exist" in trace.json["error"]


@pytest.mark.integration
def test_credentials_never_appear_in_any_output(sim, tmp_path) -> None:
    """Every Customer.io command, human and --json, with a trace: no key in any output."""
    from tests.toolkit.simulator_fixture import APP_KEY, SITE_ID, TRACK_KEY

    sim.seed({"people": [{"id": "7", "email": "k@example.com"}], "campaigns": [{"id": 3}]})
    trace = tmp_path / "trace.jsonl"
    outputs = []
    commands = [
        ["api", "probe"],
        ["api", "track", "GET", "/api/v1/accounts/region"],
        ["user", "7"],
        ["user", "k@example.com"],
        ["campaign", "3"],
        [
            "incident",
            "P3",
            "--user",
            "7",
            "--campaign",
            "3",
            "--out",
            str(tmp_path),
            "--budget",
            "10",
            "--observed-rps",
            "1",
        ],
    ]
    for command in commands:
        for mode in ([], ["--json"]):
            result = run([*command, *mode, "--trace", str(trace)], env=sim.env())
            assert result.code in (0, 1, 2), result.stderr
            if not mode:
                assert (
                    "Findings, most severe first" in result.stdout or "No findings" in result.stdout
                )
            outputs.append(result.stdout + result.stderr)
    outputs.append(trace.read_text())
    outputs.extend(p.read_text() for p in tmp_path.glob("incident-*"))
    text = "\n".join(outputs)
    for secret in (APP_KEY, TRACK_KEY, "ZG9jdG9yLXNpdGU6ZG9jdG9yLXRyYWNrLWtleQ"):  # + base64
        assert secret not in text
    assert SITE_ID not in trace.read_text()
    assert "k@example.com" not in text
