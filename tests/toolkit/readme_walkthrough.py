"""Reproduce the incident walk-through of toolkit/README.md on local stand-ins.

Customer.io holds a rotated Track API key (the simulator), Secret Manager still the revoked one
(the local gRPC server), three events were dead-lettered by Pub/Sub (the emulator) and one was
rejected; the script runs the commands of the walk-through, fixes the key half-way, and prints
what each command printed. Run: `.venv/bin/python -m tests.toolkit.readme_walkthrough`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, pubsub_emulator, running
from tests.toolkit.local_servers import http_server
from tests.toolkit.secret_manager_server import Store, secret_manager

PROJECT = "acme-cio-prod"
STATUS = {
    "status": {"indicator": "none", "description": "All Systems Operational"},
    "components": [],
    "incidents": [],
}


def _revision(handler: str, created: datetime) -> tuple[dict[str, Any], str, dict[str, Any]]:
    name = f"projects/{PROJECT}/locations/europe-west1/services/cio-prod-{handler}"
    revision = f"{name}/revisions/cio-prod-{handler}-00007-xyz"
    env = [
        {"name": var, "valueSource": {"secretKeyRef": {"secret": secret, "version": "latest"}}}
        for var, secret in (
            ("CIO_SITE_ID", "cio-prod-site-id"),
            ("CIO_TRACK_API_KEY", "cio-prod-track-api-key"),
        )
    ]
    body = {"createTime": created.isoformat().replace("+00:00", "Z"), "containers": [{"env": env}]}
    return {"name": name, "latestReadyRevision": revision}, revision, body


def _bus(host: str) -> None:
    os.environ["PUBSUB_EMULATOR_HOST"] = host
    from google.cloud import pubsub_v1

    pub, sub = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in ("identify", "track"):
        pub.create_topic(name=f"projects/{PROJECT}/topics/cio-prod-{topic}")
        dead = pub.create_topic(name=f"projects/{PROJECT}/topics/cio-prod-{topic}-dead-letter")
        sub.create_subscription(
            name=f"projects/{PROJECT}/subscriptions/cio-prod-{topic}-dead-letter", topic=dead.name
        )
    for i in range(3):
        pub.publish(
            f"projects/{PROJECT}/topics/cio-prod-track-dead-letter",
            b'{"id":"01JD8Z%02dXKQ"}' % i,
            CloudPubSubDeadLetterSourceDeliveryCount="30",
            CloudPubSubDeadLetterSourceSubscription="cio-prod-track-push",
        ).result()
    pub.publish(
        f"projects/{PROJECT}/topics/cio-prod-identify-dead-letter",
        b'{"id":"01JD8ZAAXKQ"}',
        cio_reason="rejected_400",
        cio_detail="Customer.io answered 400: attribute name too long",
        cio_status="400",
        cio_attempt="1",
        cio_retryable="false",
        cio_source_topic=f"projects/{PROJECT}/topics/cio-prod-identify",
        cio_handler="identify",
    ).result()


def main() -> None:
    now = datetime.now(UTC)
    revisions = {h: _revision(h, now - timedelta(days=3)) for h in ("track", "identify")}
    routes: dict[str, Any] = {
        f"/v2/projects/{PROJECT}/locations/europe-west1/services": lambda h: (
            200,
            {"services": [r[0] for r in revisions.values()]},
        )
    }
    for handler, (_, path, _body) in revisions.items():
        routes[f"/v2/{path}"] = lambda h, handler=handler: (200, revisions[handler][2])
    store = Store()
    old = now - timedelta(days=40)
    for logical, value in (
        ("site-id", "site"),
        ("track-api-key", "revoked-key"),
        ("app-api-key", "app-key"),
        ("webhook-signing-key", "whk"),
    ):
        store.add(PROJECT, f"cio-prod-{logical}", value, created=old)
    work = Path(tempfile.mkdtemp(prefix="cio-walkthrough-"))
    (work / "prod.yaml").write_text(
        "project_id: acme-cio-prod\nregion: europe-west1\n"
        "customerio: {region: eu, request_budget_per_second: 80}\n"
    )
    port = free_port()
    simulator = [
        str(Path(sys.executable).parent / "cio-simulator"),
        "--port",
        str(port),
        "--site-id",
        "site",
        "--track-api-key",
        "rotated-key",
        "--app-api-key",
        "app-key",
        "--region",
        "eu",
    ]
    with (
        running(simulator, port),
        pubsub_emulator() as host,
        secret_manager(store) as sm,
        http_server(routes) as (cloud_run, _),
        http_server({"/summary.json": lambda h: (200, STATUS)}) as (status, _),
    ):
        _bus(host)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
        env.update(
            {
                "CIO_DOCTOR_ENV_DIR": str(work),
                "COLUMNS": "100",
                "SECRETMANAGER_API_ENDPOINT": sm,
                "CLOUDRUN_API_ENDPOINT": cloud_run,
                "CIO_TRACK_URL": f"http://127.0.0.1:{port}",
                "CIO_APP_URL": f"http://127.0.0.1:{port}",
                "CIO_STATUS_URL": f"{status}/summary.json",
            }
        )

        def doctor(*args: str) -> None:
            proc = subprocess.run(
                [sys.executable, "-m", "cio_doctor", *args],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(
                f"$ cio-doctor {' '.join(args)}\n{proc.stdout}{proc.stderr}exit {proc.returncode}\n"
            )

        common = ("--env", "prod")
        doctor("incident", "P1", *common, "--observed-rps", "3", "--out", str(work / "reports"))
        doctor("api", "track", "GET", "/api/v1/accounts/region", *common)
        store.add(PROJECT, "cio-prod-track-api-key", "rotated-key")  # the fix, step 1
        doctor("secrets", *common)
        for _, _, body in revisions.values():  # the roll, step 3
            body["createTime"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        doctor("secrets", *common)
        doctor("api", "probe", *common)
        doctor("dlq", "list", *common)
        doctor("dlq", "replay", *common, "--reason", "max_delivery_attempts", "--dry-run")
        doctor("dlq", "replay", *common, "--reason", "max_delivery_attempts", "--yes")
        doctor("incident", "P1", *common, "--observed-rps", "3", "--out", str(work / "reports"))


if __name__ == "__main__":
    main()
