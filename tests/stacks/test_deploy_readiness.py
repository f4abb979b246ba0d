"""Rules that would otherwise fail only at apply (issue: the first apply succeeds).

Each test fails on a file that passed validation before: wrong regions and locations, CMEK
keys in the wrong location, handler typos, unpinned secrets, and settings that did nothing.
The synthesized parts (build account, waits, alert filters) are checked on the real stacks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import load_environment
from stacks.manifests import discover
from stacks.readiness import ReadinessError, check
from tests.stacks.template import Template
from tests.stacks.test_config import REPO, error_for, write_env

KEY = "projects/k/locations/{}/keyRings/r/cryptoKeys/c"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"region": "europe-west99"}, "region: 'europe-west99' is not a known Cloud Functions"),
        ({"region": "europe-wset1"}, "did you mean 'europe-west1'"),
        ({"bigquery": {"location": "europe-west99"}}, "bigquery.location: 'europe-west99'"),
        ({"bigquery": {"location": "eu"}}, "did you mean 'EU'"),
        ({"secret_replica_locations": ["europe-west44"]}, "not a known Secret Manager location"),
        ({"kms_key": KEY.format("europe-west1")}, "kms_key: renamed; use kms_keys"),
        ({"bigquery": {"table_expiration_days": 30}}, "use partition_expiration_days"),
        ({"secret_versions": {"site-id": "latest"}}, "secret_versions.site-id"),
        ({"secret_versions": {"sight-id": 1}}, "secret_versions: unknown secret(s) ['sight-id']"),
    ],
)
def test_settings_that_would_fail_at_apply_are_refused(
    tmp_path: Path, overrides: dict[str, object], expected: str
) -> None:
    message = error_for(write_env(tmp_path, "qa", **overrides))
    assert "qa.yaml" in message
    assert expected in message


def test_a_key_must_sit_in_the_location_it_is_listed_under(tmp_path: Path) -> None:
    keys = {"europe-west1": KEY.format("europe-west4")}
    message = error_for(write_env(tmp_path, "qa", kms_keys=keys))
    assert "kms_keys.europe-west1: the key is in location 'europe-west4'" in message


def test_every_encrypted_service_needs_a_key_in_its_own_location(tmp_path: Path) -> None:
    """prod's old single europe-west1 key, for europe-west4 replicas and an EU dataset."""
    path = write_env(
        tmp_path,
        "qa",
        kms_keys={"europe-west1": KEY.format("europe-west1")},
        secret_replica_locations=["europe-west1", "europe-west4"],
        bigquery={"location": "EU"},
    )
    message = error_for(path)
    assert "secretmanager needs a key in 'europe-west4'" in message
    assert "bigquery needs a key in 'europe'" in message
    assert "kms_keys:" in message


def test_automatic_replication_takes_a_global_key(tmp_path: Path) -> None:
    keys = {loc: KEY.format(loc) for loc in ("europe-west1", "europe")}
    message = error_for(write_env(tmp_path, "qa", kms_keys=keys))
    assert "secretmanager needs a key in 'global'" in message
    keys["global"] = KEY.format("global")
    env = load_environment(write_env(tmp_path, "qa", kms_keys=keys))
    assert {(u.service, u.location) for u in env.cmek_requirements()} == {
        ("secretmanager", "global"),
        ("bigquery", "europe"),
        ("pubsub", "europe-west1"),
    }


def test_us_dataset_needs_a_us_key(tmp_path: Path) -> None:
    keys = {loc: KEY.format(loc) for loc in ("europe-west1", "global", "europe")}
    message = error_for(write_env(tmp_path, "qa", kms_keys=keys, bigquery={"location": "US"}))
    assert "bigquery needs a key in 'us'" in message


def test_handler_typo_is_refused_naming_the_handler(tmp_path: Path) -> None:
    env = load_environment(write_env(tmp_path, "qa", handlers={"trak": {"max_instances": 3}}))
    with pytest.raises(ReadinessError) as info:
        check([env], discover(REPO / "functions"))
    assert "environments/qa.yaml: handlers.trak: there is no handler folder" in str(info.value)
    assert "Did you mean 'track'?" in str(info.value)


def test_unpinned_secret_names_the_command_that_adds_it(tmp_path: Path) -> None:
    env = load_environment(write_env(tmp_path, "qa", secret_versions={"site-id": 2}))
    with pytest.raises(ReadinessError) as info:
        check([env], discover(REPO / "functions"))
    message = str(info.value)
    assert "secret_versions.track-api-key: no version pinned" in message
    assert "gcloud secrets versions add cio-qa-track-api-key --data-file=-" in message
    assert "secret_versions.site-id" not in message
    first_deploy = load_environment(
        write_env(tmp_path, "qa", secret_versions=None, deploy_handlers=False)
    )
    check([first_deploy], discover(REPO / "functions"))  # no handlers: nothing to pin


def test_validate_command_runs_the_handler_rules(tmp_path: Path) -> None:
    write_env(tmp_path, "qa", handlers={"identfy": {}})
    result = subprocess.run(
        [sys.executable, "-m", "stacks.cli", "validate", "--env-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "handlers.identfy" in result.stderr and "'identify'" in result.stderr


def test_build_account_has_the_documented_role_and_functions_wait(
    templates: dict[str, Template],
) -> None:
    for template in templates.values():
        grants = {
            k: g
            for k, g in template.resources("google_project_iam_member").items()
            if "condition" not in g  # the claims grant is conditioned on its database
        }
        assert {g["role"] for g in grants.values()} == {"roles/run.builder"}
        assert not template.find("google_storage_bucket_iam_member")
        (sleep_id, sleep) = next(
            (k, v)
            for k, v in template.resources("time_sleep").items()
            if "build-grants-settle" in k
        )
        assert sleep["create_duration"] == "60s"
        assert {f"google_project_iam_member.{k}" for k in grants} <= set(sleep["depends_on"])
        for function in template.resources("google_cloudfunctions2_function").values():
            assert f"time_sleep.{sleep_id}" in function["depends_on"]
            assert function["build_config"]["service_account"].startswith(
                "${data.google_service_account."
            )


def test_alert_on_the_log_metric_waits_for_it(templates: dict[str, Template]) -> None:
    for template in templates.values():
        (sleep_id, sleep) = next(
            (k, v) for k, v in template.resources("time_sleep").items() if "metric-settle" in k
        )
        assert sleep["create_duration"] == "600s"
        (metric_id,) = [k for k in template.resources("google_logging_metric") if "decisions" in k]
        assert sleep["triggers"]["metric"] == f"${{google_logging_metric.{metric_id}.id}}"
        users = [
            a
            for a in template.resources("google_monitoring_alert_policy").values()
            if "logging.googleapis.com/user/" in a["conditions"][0]["condition_threshold"]["filter"]
        ]
        assert users and all(f"time_sleep.{sleep_id}" in a["depends_on"] for a in users)


def test_oldest_unacked_alert_watches_delivery_subscriptions_only(
    templates: dict[str, Template],
) -> None:
    for template in templates.values():
        alert = next(
            a
            for a in template.resources("google_monitoring_alert_policy").values()
            if "oldest_unacked" in a["conditions"][0]["condition_threshold"]["filter"]
        )
        watched = alert["conditions"][0]["condition_threshold"]["filter"].split('full_match("')[1]
        names = set(watched.removesuffix('")').split("|"))
        subscriptions = template.resources("google_pubsub_subscription").values()
        delivery = {
            s["name"] for s in subscriptions if "push_config" in s or "bigquery_config" in s
        }
        assert names == delivery
        assert not any("dead-letter" in n or "quarantine" in n for n in names)


def test_handlers_run_the_pinned_secret_versions(templates: dict[str, Template]) -> None:
    for template in templates.values():
        for function in template.resources("google_cloudfunctions2_function").values():
            versions = {
                v["version"] for v in function["service_config"]["secret_environment_variables"]
            }
            assert versions and "latest" not in versions
            assert all(v.isdigit() for v in versions)


@pytest.mark.parametrize("name", ["smoke", "deployer", "push"])
def test_a_handler_may_not_take_a_platform_accounts_name(tmp_path: Path, name: str) -> None:
    from stacks.manifests import ManifestError, load_manifest

    folder = tmp_path / name
    folder.mkdir()
    (folder / "handler.yaml").write_text("entry_point: handle\ntrigger: http_public\n")
    with pytest.raises(ManifestError, match="taken by a platform account"):
        load_manifest(folder / "handler.yaml")
