"""No duplicate sends under redeliveries, faults and a handler restart (issue 13).

Producer -> Pub/Sub emulator (push subscription, dead-letter policy) -> the transactional
handler under functions-framework (claims in the Firestore emulator) -> the simulator with
429s, 5xx, timeouts before acceptance and slow answers after it. Every key is published twice
(a producer retry); halfway the handler is killed and started again on the same port. Sends
are counted per idempotency key in the simulator (the key rides in message_data).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
from cio_shared.producer import publish_transactional

from tests.delivery.harness import (
    PROJECT,
    create_push_subscription,
    create_topics,
    simulator,
    unique_names,
    wait_until,
)
from tests.support.processes import FUNCTIONS, free_port, running

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MAIN = """import functions_framework
from cio_shared.transactional import build_handler

_HANDLER = build_handler(handler="transactional", topic="transactional")


@functions_framework.http
def handle(request):
    return _HANDLER(request)
"""
KEYS = 30


def test_each_key_is_sent_once_unless_its_outcome_was_unknown(
    tmp_path: Path, pubsub_emulator_host: str, firestore_emulator_host: str
) -> None:
    source = tmp_path / "main.py"
    source.write_text(MAIN)
    names = unique_names("transactional")
    create_topics(names)
    port = free_port()
    argv = [sys.executable, "-m", "functions_framework", f"--source={source}",
            "--target=handle", "--host=127.0.0.1", f"--port={port}"]  # fmt: skip
    with simulator() as sim:
        sim.set_faults(
            rates={"429": 0.1, "500": 0.1, "timeout": 0.05},
            path_prefix="/v1/send",
            timeout_hold_seconds=1.5,
            seed=7,
        )
        requests.post(
            f"{sim.url}/_admin/transactional",
            json={"slow_after_accept": {"rate": 0.1, "seconds": 2}, "seed": 3},
            timeout=10,
        ).raise_for_status()
        env = {
            "PYTHONPATH": str(FUNCTIONS),
            "CIO_APP_API_KEY": "sim-app-api-key",
            "CIO_APP_URL": sim.url,
            "CIO_DEAD_LETTER_TOPIC": names.dead_letter,
            "CIO_SOURCE_TOPIC": names.source,
            "CIO_ENVIRONMENT": names.environment,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "CIO_TIMEOUT_SECONDS": "1",
            "THREADS": "8",
            "FIRESTORE_EMULATOR_HOST": firestore_emulator_host,
            "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
        }

        def sent() -> Counter[str]:
            answer = requests.get(f"{sim.url}/_admin/transactional", timeout=10).json()
            return Counter(s["body"]["message_data"]["key"] for s in answer["sends"])

        def publish(keys: range) -> None:
            for i in keys:
                for _ in range(2):  # the producer's own retry: same key, a new message
                    publish_transactional(
                        "send_email", {"id": f"u{i}"}, "password_reset",
                        to=f"u{i}@example.com", message_data={"key": f"k{i}"},
                        idempotency_key=f"k{i}", topic=names.source,
                    )  # fmt: skip

        with running(argv, port, env=env, log_path=tmp_path / "handler-1.log"):
            create_push_subscription(names, f"http://127.0.0.1:{port}", max_attempts=50)
            publish(range(KEYS))
            wait_until(lambda: len(sent()) >= KEYS // 2, timeout=60)
        # killed mid-stream: Pub/Sub redelivers what it had in flight to the new instance
        with running(argv, port, env=env, log_path=tmp_path / "handler-2.log"):
            assert wait_until(lambda: len(sent()) == KEYS, timeout=90), sorted(sent())
            wait_until(lambda: False, timeout=5)  # let redeliveries settle
            counts = sent()
        logs = "".join(p.read_text() for p in tmp_path.glob("handler-*.log"))
    unknown = logs.count('"reason": "outcome_unknown"')
    duplicated = {k: n for k, n in counts.items() if n > 1}
    print(f"sends per key: {dict(Counter(counts.values()))}; unknown outcomes: {unknown}")
    assert set(counts) == {f"k{i}" for i in range(KEYS)}
    # a key is sent twice only when an attempt's outcome was unknown (policy retry)
    assert len(duplicated) <= unknown, (duplicated, unknown)
    assert all(n <= 1 + unknown for n in counts.values())
