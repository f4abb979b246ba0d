"""Start and stop local servers for integration tests (all on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
EMULATOR_LAUNCHER = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def running(
    argv: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` until the block ends; wait until it listens on `port`."""
    full_env = {**os.environ, **(env or {})}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        list(argv), env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port(port, timeout, proc)
        yield proc
    finally:
        stop_group(proc)
        if log_path:
            out.close()  # type: ignore[union-attr]


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop `proc` and everything it started (its own session): a launcher script such as the
    Firestore emulator's runs Java as a child, which would outlive the script otherwise."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, so a gone group reads as gone
            if not _group_alive(proc.pid):
                break
            time.sleep(0.05)
        else:
            continue  # still running: the next signal
        break
    proc.wait(5)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def emulator_available() -> bool:
    return EMULATOR_LAUNCHER.exists()


@contextmanager
def pubsub_emulator(log_path: Path | None = None) -> Iterator[str]:
    """Google's Pub/Sub emulator on a free port; yields `127.0.0.1:<port>`."""
    if not emulator_available():
        raise RuntimeError(
            f"Pub/Sub emulator not found at {EMULATOR_LAUNCHER}: install the Debian package "
            "google-cloud-cli-pubsub-emulator (and Java 17)"
        )
    port = free_port()
    with running(
        [str(EMULATOR_LAUNCHER), "--host=127.0.0.1", f"--port={port}"],
        port,
        log_path=log_path,
        timeout=60,
    ):
        yield f"127.0.0.1:{port}"


@contextmanager
def function_server(
    source: Path,
    target: str,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """A handler under the real functions-framework server; yields its base URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "functions_framework",
        f"--source={source}",
        f"--target={target}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    pythonpath = os.pathsep.join([str(FUNCTIONS), os.environ.get("PYTHONPATH", "")])
    with running(argv, port, env={"PYTHONPATH": pythonpath, **(env or {})}, log_path=log_path):
        url = f"http://127.0.0.1:{port}"
        _wait_http(url)
        yield url


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} does not answer HTTP")
