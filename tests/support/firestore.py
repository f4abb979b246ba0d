"""Google's Firestore emulator for tests (127.0.0.1, a free port), like the Pub/Sub emulator.

Shipped with the machine image as the Debian package `google-cloud-cli-firestore-emulator`;
the official client talks to it when `FIRESTORE_EMULATOR_HOST` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, running

FIRESTORE_LAUNCHER = Path(
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"
)


def firestore_available() -> bool:
    return FIRESTORE_LAUNCHER.exists()


@contextmanager
def firestore_emulator(log_path: Path | None = None) -> Iterator[str]:
    """The emulator on a free port; yields `127.0.0.1:<port>`."""
    if not firestore_available():
        raise RuntimeError(
            f"Firestore emulator not found at {FIRESTORE_LAUNCHER}: install the Debian package "
            "google-cloud-cli-firestore-emulator (and Java 17)"
        )
    port = free_port()
    with running(
        [str(FIRESTORE_LAUNCHER), "start", "--host=127.0.0.1", f"--port={port}"],
        port,
        log_path=log_path,
        timeout=60,
    ):
        yield f"127.0.0.1:{port}"
