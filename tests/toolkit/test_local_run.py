"""`make local` (scripts/local_run.py) as a process: it starts the Pub/Sub emulator, the
simulator and every handler wired together, says where they listen and how to send a first
event; that event (the printed producer one-liner) reaches the simulator; Ctrl-C stops every
child. And without the emulator's Debian package it says what to install."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support.processes import REPO, emulator_available

pytestmark = pytest.mark.integration
SCRIPT = REPO / "scripts" / "local_run.py"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBSUB_", "FIRESTORE_"))}
    return {**env, **extra}


def _read_until_ready(proc: subprocess.Popen[str], timeout: float) -> list[str]:
    """Lines up to the ready line (a reader thread: readline on a pipe would block)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in iter(stdout.readline, ""):
            lines.put(line.rstrip("\n"))
            if line.startswith("cio-local ready"):
                return
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line.startswith("cio-local ready"):
            return seen
    raise AssertionError(f"no ready line after {timeout} s:\n" + "\n".join(seen))


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@pytest.mark.skipif(not emulator_available(), reason="the Pub/Sub emulator is not installed")
def test_make_local_delivers_a_first_event_and_stops_everything_on_ctrl_c(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--free-ports", "--log-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=_env(),
    )
    try:
        lines = _read_until_ready(proc, 50)
        text = "\n".join(lines)
        pids = [int(p) for p in re.findall(r"pid (\d+)", text)]
        for handler in ("identify", "track", "webhook"):
            assert re.search(rf"handler +{handler} +http://127\.0\.0\.1:\d+/", text), text
        for name in ("track-push", "track-dead-letter", "identify-push", "webhook-quarantine"):
            assert f"cio-local-{name}" in text
        simulator = re.search(r"simulator=(http://127\.0\.0\.1:\d+)", lines[-1])
        assert simulator, lines[-1]
        [one_liner] = [line.strip() for line in lines if "publish_track" in line]
        published = subprocess.run(
            ["bash", "-c", one_liner],
            cwd=REPO,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert published.returncode == 0, published.stderr
        event_id = published.stdout.strip().splitlines()[-1]
        deadline = time.monotonic() + 20
        events: list[dict] = []
        while time.monotonic() < deadline and not events:
            state = requests.get(f"{simulator.group(1)}/_admin/state", timeout=5).json()
            events = [e for e in state["events"] if event_id in json.dumps(e)]
            time.sleep(0.2)
        assert events, f"event {event_id} did not reach the simulator"
        assert events[0]["name"] == "signed_up"
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert rest.rstrip().endswith("stopped")
    assert len(pids) >= 5  # emulator, simulator, three handlers at least
    assert [p for p in pids if _group_alive(p)] == []
    assert time.monotonic() - started < 60


def test_make_local_without_the_emulator_says_what_to_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--free-ports", "--log-dir", str(tmp_path)],
        cwd=REPO,
        env=_env(CIO_PUBSUB_EMULATOR_LAUNCHER=str(tmp_path / "absent")),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "google-cloud-cli-pubsub-emulator" in result.stderr
    assert "Traceback" not in result.stderr
