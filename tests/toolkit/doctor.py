"""Run cio-doctor as a process and read its --json output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# variables a developer's shell may carry that would change what the toolkit reads
_SCRUB = (
    "CIO_SITE_ID",
    "CIO_TRACK_API_KEY",
    "CIO_APP_API_KEY",
    "CIO_REGION",
    "CIO_TRACK_URL",
    "CIO_APP_URL",
    "CIO_PIPELINES_API_KEY",
    "CIO_PIPELINES_URL",
    "CIO_DELIVERY_API",
    "CIO_WEBHOOK_SIGNING_KEY",
    "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS",
    "SECRETMANAGER_API_ENDPOINT",
    "CIO_DOCTOR_ENV_DIR",
    "CLOUDRUN_API_ENDPOINT",
    "MONITORING_API_ENDPOINT",
    "CIO_STATUS_URL",
)
# A safety net: whatever a test forgets to point at a local server goes to a closed local
# port, never to Customer.io, Google or the status page on the internet.
NOWHERE = "http://127.0.0.1:9"
OFFLINE = {
    "CIO_TRACK_URL": NOWHERE,
    "CIO_APP_URL": NOWHERE,
    "CIO_PIPELINES_URL_US": NOWHERE,
    "CIO_PIPELINES_URL_EU": NOWHERE,
    "CIO_STATUS_URL": f"{NOWHERE}/summary.json",
    "MONITORING_API_ENDPOINT": NOWHERE,
    "CLOUDRUN_API_ENDPOINT": NOWHERE,
    "SECRETMANAGER_API_ENDPOINT": "127.0.0.1:9",
    "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/adc.json",
}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def finding_codes(self) -> list[str]:
        return [f["code"] for f in self.json["findings"]]


def run(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 60,
) -> Result:
    """`python -m cio_doctor ARGS` with a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    pythonpath = os.pathsep.join([str(REPO / "toolkit"), str(REPO / "functions")])
    full = {**base, **OFFLINE, "PYTHONPATH": pythonpath, "COLUMNS": "160", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "cio_doctor", *args],
        input=stdin,
        check=False,
        capture_output=True,
        env=full,
        timeout=timeout,
        cwd=REPO,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
