"""Credentials from Secret Manager, and the secret-rotation check, against a local gRPC
Secret Manager and a fake Cloud Run REST API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.toolkit.doctor import Result, run
from tests.toolkit.local_servers import http_server
from tests.toolkit.secret_manager_server import DISABLED, Store, secret_manager
from tests.toolkit.simulator_fixture import APP_KEY, Sim

pytestmark = pytest.mark.integration
PROJECT = "doctor-test"


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def endpoint(store: Store) -> Iterator[str]:
    with secret_manager(store) as address:
        yield address


def test_user_reads_the_app_key_from_secret_manager(
    sim: Sim, store: Store, endpoint: str, make_env: Callable[..., str], env_dir: Path
) -> None:
    env = make_env()
    store.add(PROJECT, f"cio-{env}-app-api-key", "old-key")
    store.add(PROJECT, f"cio-{env}-app-api-key", APP_KEY)
    sim.seed({"people": [{"id": "1", "email": "a@example.com"}]})
    result = run(
        ["user", "1", "--env", env, "--json"],
        env={
            "CIO_APP_URL": sim.url,
            "SECRETMANAGER_API_ENDPOINT": endpoint,
            "CIO_DOCTOR_ENV_DIR": str(env_dir),
        },
    )
    assert result.code in (0, 1), result.stdout + result.stderr
    assert result.json["checks"][0]["data"]["identifiers"]["id"] == "1"
    assert APP_KEY not in result.stdout + result.stderr
    assert "AccessSecretVersion" in store.calls


def test_missing_secret_is_a_clear_error(
    store: Store, endpoint: str, make_env: Callable[..., str], env_dir: Path
) -> None:
    env = make_env()
    result = run(
        ["user", "1", "--env", env, "--json"],
        env={
            "SECRETMANAGER_API_ENDPOINT": endpoint,
            "CIO_DOCTOR_ENV_DIR": str(env_dir),
            "CIO_APP_URL": "http://127.0.0.1:9",
        },
    )
    assert result.code == 2
    assert f"cio-{env}-app-api-key" in result.json["error"]
    assert "NOT_FOUND" in result.json["error"]


def test_webhook_verify_accepts_the_previous_version_during_a_rotation(
    store: Store, endpoint: str, make_env: Callable[..., str], env_dir: Path, tmp_path: Path
) -> None:
    env = make_env(previous_secret_versions={"webhook-signing-key": "1"})
    store.add(PROJECT, f"cio-{env}-webhook-signing-key", "old-signing-key")
    store.add(PROJECT, f"cio-{env}-webhook-signing-key", "new-signing-key")
    ts = int(time.time())
    body = json.dumps(
        {
            "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
            "object_type": "email",
            "metric": "sent",
            "timestamp": ts,
            "data": {},
        }
    ).encode()
    signature = hmac.new(b"old-signing-key", b"v0:%d:" % ts + body, hashlib.sha256).hexdigest()
    (tmp_path / "h").write_text(f"X-CIO-Timestamp: {ts}\nX-CIO-Signature: {signature}\n")
    (tmp_path / "b").write_bytes(body)
    result = run(
        [
            "webhook",
            "verify",
            "--headers",
            str(tmp_path / "h"),
            "--body",
            str(tmp_path / "b"),
            "--env",
            env,
            "--json",
        ],
        env={"SECRETMANAGER_API_ENDPOINT": endpoint, "CIO_DOCTOR_ENV_DIR": str(env_dir)},
    )
    assert result.code == 1, result.stdout + result.stderr
    assert result.finding_codes() == ["signed_with_previous_key"]


def _revision(env: str, handler: str, created: datetime, refs: dict[str, tuple[str, str]]):
    name = f"projects/{PROJECT}/locations/europe-west1/services/cio-{env}-{handler}"
    revision = f"{name}/revisions/cio-{env}-{handler}-00002-abc"
    body = {
        "name": revision,
        "createTime": created.isoformat().replace("+00:00", "Z"),
        "containers": [
            {
                "env": [
                    {"name": "CIO_ENVIRONMENT", "value": env},
                    *(
                        {
                            "name": var,
                            "valueSource": {
                                "secretKeyRef": {
                                    "secret": f"projects/{PROJECT}/secrets/{secret}",
                                    "version": version,
                                }
                            },
                        }
                        for var, (secret, version) in refs.items()
                    ),
                ]
            }
        ],
    }
    return {"name": name, "latestReadyRevision": revision}, revision, body


def run_secrets(env: str, endpoint: str, cloud_run: str, env_dir: Path) -> Result:
    """`cio-doctor secrets --json` against the local Secret Manager and Cloud Run fake."""
    return run(
        ["secrets", "--env", env, "--json"],
        env={
            "SECRETMANAGER_API_ENDPOINT": endpoint,
            "CLOUDRUN_API_ENDPOINT": cloud_run,
            "CIO_DOCTOR_ENV_DIR": str(env_dir),
        },
    )


def test_rotation_check_shows_versions_and_what_to_roll(
    store: Store, endpoint: str, make_env: Callable[..., str], env_dir: Path
) -> None:
    env = make_env()
    now = datetime.now(UTC)
    for logical in ("site-id", "app-api-key", "webhook-signing-key"):
        store.add(PROJECT, f"cio-{env}-{logical}", "v", created=now - timedelta(days=30))
    key = f"cio-{env}-track-api-key"
    store.add(PROJECT, key, "k1", created=now - timedelta(days=30))
    store.add(PROJECT, key, "k2", state=DISABLED, created=now - timedelta(days=20))
    store.add(PROJECT, key, "k3", created=now - timedelta(hours=1))
    track = _revision(
        env,
        "track",
        now - timedelta(days=2),
        {"CIO_TRACK_API_KEY": (key, "latest"), "CIO_SITE_ID": (f"cio-{env}-site-id", "latest")},
    )
    identify = _revision(env, "identify", now, {"CIO_TRACK_API_KEY": (key, "latest")})
    webhook = _revision(env, "webhook", now, {"CIO_WEBHOOK_SIGNING_KEY": (key, "2")})
    other = {"name": f"projects/{PROJECT}/locations/europe-west1/services/someone-else"}
    routes = {
        f"/v2/projects/{PROJECT}/locations/europe-west1/services": lambda h: (
            200,
            {"services": [track[0], identify[0], webhook[0], other]},
        )
    }
    for _, path, body in (track, identify, webhook):
        routes[f"/v2/{path}"] = lambda h, body=body: (200, body)
    with http_server(routes) as (cloud_run, _):
        result = run_secrets(env, endpoint, cloud_run, env_dir)
    assert result.code == 1, result.stdout + result.stderr
    secrets = {s["secret"]: s for s in result.json["checks"][0]["data"]["secrets"]}
    assert secrets[key]["latest_enabled"] == "3"
    assert secrets[key]["enabled_versions"] == ["1", "3"]
    refs = result.json["checks"][1]["data"]["references"]
    rows = {(r["service"], r["variable"]): r for r in refs}
    assert rows[(f"cio-{env}-identify", "CIO_TRACK_API_KEY")]["runs"] == "3"
    assert rows[(f"cio-{env}-track", "CIO_TRACK_API_KEY")]["runs"] == (
        "1 on instances started before version 3 was added, 3 on newer ones"
    )
    found = {f["code"]: f for f in result.json["findings"]}
    assert f"cio-{env}-track" in found["secret_not_rolled"]["title"]
    assert "gcloud run services update" in found["secret_not_rolled"]["next_step"]
    assert found["secret_version_disabled"]["severity"] == "critical"
    assert result.json["findings"][0]["code"] == "secret_version_disabled"


def test_a_pinned_version_older_than_the_newest_names_the_pin_to_bump(
    store: Store, endpoint: str, make_env: Callable[..., str], env_dir: Path
) -> None:
    """The stacks pin numeric versions: after `versions add`, the revision still runs the pin."""
    env = make_env()
    now = datetime.now(UTC)
    key = f"cio-{env}-track-api-key"
    store.add(PROJECT, key, "k1", created=now - timedelta(days=30))
    store.add(PROJECT, key, "k2", created=now - timedelta(hours=1))
    track = _revision(env, "track", now - timedelta(days=2), {"CIO_TRACK_API_KEY": (key, "1")})
    routes = {
        f"/v2/projects/{PROJECT}/locations/europe-west1/services": lambda h: (
            200,
            {"services": [track[0]]},
        ),
        f"/v2/{track[1]}": lambda h: (200, track[2]),
    }
    with http_server(routes) as (cloud_run, _):
        result = run_secrets(env, endpoint, cloud_run, env_dir)
    rows = {
        (r["service"], r["variable"]): r for r in result.json["checks"][1]["data"]["references"]
    }
    assert rows[(f"cio-{env}-track", "CIO_TRACK_API_KEY")]["version_ref"] == "1"
    found = {f["code"]: f for f in result.json["findings"]}
    pinned = found["secret_pinned_old"]
    assert "runs" in pinned["title"] and "latest is 2" in pinned["title"]
    assert 'secret_versions.track-api-key: "2"' in pinned["next_step"]
    assert f"environments/{env}.yaml" in pinned["next_step"]


def test_the_secrets_checked_follow_the_environments_delivery_api(
    store: Store, endpoint: str, make_env: Callable[..., str], env_dir: Path
) -> None:
    """A pipelines environment uses the Pipelines key, not the Track credentials: the empty
    secret of the API it does not use is no finding, the one it uses is."""
    env = make_env(customerio={"region": "eu", "api": "pipelines"})
    for logical in ("app-api-key", "webhook-signing-key"):
        store.add(PROJECT, f"cio-{env}-{logical}", "v")
    routes = {
        f"/v2/projects/{PROJECT}/locations/europe-west1/services": lambda h: (200, {"services": []})
    }
    with http_server(routes) as (cloud_run, _):
        result = run_secrets(env, endpoint, cloud_run, env_dir)
    checked = {s["secret"] for s in result.json["checks"][0]["data"]["secrets"]}
    assert f"cio-{env}-pipelines-api-key" in checked
    assert not {f"cio-{env}-site-id", f"cio-{env}-track-api-key"} & checked
