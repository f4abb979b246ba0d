"""Properties of the synthesized stacks that matter for security, delivery and cost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from cio_shared import contract

from stacks.aspects import label_attribute  # noqa: F401  (import check: aspects load without synth)
from stacks.config import load_environments
from stacks.handlers import app_request_shares, request_shares
from stacks.inventory import inventory
from stacks.manifests import HandlerManifest, discover
from tests.stacks.template import Template
from tests.support.environments import environment_names

ENVS = environment_names()
NAME = re.compile(rf"^cio-({'|'.join(ENVS)})-[a-z0-9-]+$")
SMOKE_ACCOUNT = "data.google_service_account.smoke_account_"  # stacks/smoke.py
LABELLABLE_WITH_LABELS = {
    "google_pubsub_topic",
    "google_pubsub_subscription",
    "google_secret_manager_secret",
    "google_cloudfunctions2_function",
    "google_storage_bucket",
    "google_bigquery_dataset",
    "google_bigquery_table",
}


@pytest.fixture(params=ENVS)
def env_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def template(templates: dict[str, Template], env_name: str) -> Template:
    return templates[env_name]


def environment(name: str):  # type: ignore[no-untyped-def]
    return next(e for e in load_environments() if e.name == name)


REPO = Path(__file__).resolve().parents[2]
INVENTORY = Path(__file__).parent / "inventory"


def deployed(env_name: str) -> list[HandlerManifest]:
    """The handler folders an environment gets (every one its file does not turn off)."""
    env = environment(env_name)
    return [m for m in discover(REPO / "functions") if env.enabled(m.name)]


def consumed_topics(env_name: str) -> list[str]:
    """The event topics an environment gets: those its enabled handler folders consume."""
    env = environment(env_name)
    return sorted(
        str(m.topic) for m in discover(REPO / "functions") if m.topic and env.enabled(m.name)
    )


def test_inventory(template: Template, env_name: str) -> None:
    """Counts by type and names, reviewed like a plan (`make inventory` rewrites the files)."""
    snapshot = INVENTORY / f"{env_name}.yaml"
    if not snapshot.exists():  # a new environment is one file; its snapshot is a review aid
        pytest.skip(f"no inventory for {env_name} yet: `make inventory` writes one to review")
    expected = yaml.safe_load(snapshot.read_text())
    assert inventory(template.data) == expected, f"{snapshot} is stale: run `make inventory`"


def test_one_stack_per_environment_file(synthesized: dict[str, Path]) -> None:
    assert sorted(synthesized) == sorted(ENVS)
    for name, path in synthesized.items():
        assert path.name == "cdk.tf.json" and path.parent.name == name


def test_state_backend_per_environment(template: Template, env_name: str) -> None:
    env = environment(env_name)
    backend = template.data["terraform"]["backend"]["gcs"]
    assert backend == {"bucket": env.state_bucket, "prefix": f"cio/{env_name}"}
    assert template.data["terraform"]["required_providers"]["google"]["version"] == "6.50.0"


def test_push_subscriptions_have_our_retry_and_dead_letter_policy(
    template: Template, env_name: str
) -> None:
    env = environment(env_name)
    pushes = [
        s for s in template.resources("google_pubsub_subscription").values() if "push_config" in s
    ]
    assert sorted(s["name"] for s in pushes) == sorted(
        f"cio-{env_name}-{m.topic}-push" for m in deployed(env_name) if m.topic
    )
    for sub in pushes:
        assert (
            sub["dead_letter_policy"]["max_delivery_attempts"] == env.pubsub.max_delivery_attempts
        )
        assert "dead-letter" in sub["dead_letter_policy"]["dead_letter_topic"]
        assert sub["retry_policy"] == {
            "minimum_backoff": f"{env.pubsub.min_backoff_seconds}s",
            "maximum_backoff": f"{env.pubsub.max_backoff_seconds}s",
        }
        assert sub["ack_deadline_seconds"] == env.pubsub.ack_deadline_seconds
        push = sub["push_config"]
        assert push["oidc_token"]["audience"] == push["push_endpoint"]
        assert push["push_endpoint"].endswith(".service_config[0].uri}")
        assert sub["expiration_policy"] == {"ttl": ""}


def test_every_event_topic_has_a_kept_dead_letter_topic(template: Template, env_name: str) -> None:
    topics = {t["name"] for t in template.resources("google_pubsub_topic").values()}
    pulls = {
        s["name"]
        for s in template.resources("google_pubsub_subscription").values()
        if "push_config" not in s and "bigquery_config" not in s
    }
    sources = [*consumed_topics(env_name), "webhook-events"]
    for source in sources:
        assert f"cio-{env_name}-{source}" in topics
        assert f"cio-{env_name}-{source}-dead-letter" in topics
        assert f"cio-{env_name}-{source}-dead-letter" in pulls
    agent = template.find("google_pubsub_topic_iam_member", role="roles/pubsub.publisher")
    agent_topics = [m["topic"] for m in agent if "gcp-sa-pubsub" in m["member"]]
    assert len(agent_topics) == len(sources)


def test_functions_ingress_and_runtime(template: Template, env_name: str) -> None:
    functions = {
        f["name"]: f for f in template.resources("google_cloudfunctions2_function").values()
    }
    manifests = {f"cio-{env_name}-{m.name}": m for m in deployed(env_name)}
    assert set(functions) == set(manifests)
    for name, function in functions.items():
        service = function["service_config"]
        expected = "ALLOW_ALL" if manifests[name].public else "ALLOW_INTERNAL_ONLY"
        assert service["ingress_settings"] == expected
        assert function["build_config"]["runtime"] == "python312"
        assert "event_trigger" not in function
        assert service["environment_variables"]["CIO_ENVIRONMENT"] == env_name
        assert service["environment_variables"]["CIO_REGION"] == "eu"
        threads = service["environment_variables"]["THREADS"]
        assert threads == str(service["max_instance_request_concurrency"])
        assert function["depends_on"], "grants must exist before the function starts"


def test_only_public_manifests_are_public(template: Template, env_name: str) -> None:
    invokers = template.resources("google_cloud_run_v2_service_iam_member").values()
    public = [i for i in invokers if i["member"] in {"allUsers", "allAuthenticatedUsers"}]
    expected_public = [m.name for m in deployed(env_name) if m.public]
    assert sorted(
        re.search(r"handlers_([a-z-]+)_function", i["name"]).group(1) for i in public
    ) == (  # type: ignore[union-attr]
        sorted(expected_public)
    )
    private = [i for i in invokers if i not in public]
    assert len(private) == len(deployed(env_name)) - len(expected_public)
    assert all("account-push" in i["member"] for i in private)


def test_secrets_are_granted_per_handler(template: Template, env_name: str) -> None:
    secrets = {s["secret_id"] for s in template.resources("google_secret_manager_secret").values()}
    assert secrets == {f"cio-{env_name}-{s}" for s in contract.SECRET_NAMES}
    grants: dict[str, set[str]] = {}
    for grant in template.resources("google_secret_manager_secret_iam_member").values():
        if SMOKE_ACCOUNT in grant["member"]:
            continue  # the smoke check's key (tests/cicd/test_smoke_identity.py)
        handler = re.search(r"handlers_account-([a-z]+)_", grant["member"]).group(1)  # type: ignore[union-attr]
        secret = re.search(r"secrets_([a-z-]+)_", grant["secret_id"]).group(1)  # type: ignore[union-attr]
        grants.setdefault(handler, set()).add(secret)
        assert grant["role"] == "roles/secretmanager.secretAccessor"
    assert grants == {m.name: set(m.secret_names()) for m in deployed(env_name) if m.secret_names()}
    assert not any("secret_data" in body for _, _, body in template.all_resources())
    template.resource_count_is("google_secret_manager_secret_version", 0)


def test_secret_replication_and_cmek(template: Template, env_name: str) -> None:
    env = environment(env_name)
    for secret in template.resources("google_secret_manager_secret").values():
        if not env.secret_replica_locations and not env.kms_keys:
            assert secret["replication"] == {"auto": {}}
        if env.secret_replica_locations:
            replicas = secret["replication"]["user_managed"]["replicas"]
            assert [r["location"] for r in replicas] == env.secret_replica_locations
            for r in replicas:
                key = r.get("customer_managed_encryption", {}).get("kms_key_name")
                assert key == env.kms_keys.get(r["location"])
        assert secret["deletion_protection"] is env.protected


def test_protection_only_in_protected_environments(template: Template, env_name: str) -> None:
    protected = environment(env_name).protected
    for rtype in ("google_pubsub_topic", "google_secret_manager_secret", "google_bigquery_dataset"):
        resources = template.resources(rtype).values()
        if protected:
            assert all(r.get("lifecycle", {}).get("prevent_destroy") for r in resources)
        else:
            assert not any(r.get("lifecycle") for r in resources)
    if protected:
        tables = template.resources("google_bigquery_table").values()
        assert all(t["deletion_protection"] is True for t in tables)


def test_rate_budget_split_per_instance(template: Template, env_name: str) -> None:
    env, manifests = environment(env_name), deployed(env_name)
    shares = request_shares(env, manifests)
    assert sum(shares.values()) == pytest.approx(1.0)
    app_shares = app_request_shares(env, manifests)
    assert sum(app_shares.values()) == pytest.approx(1.0)
    for manifest in manifests:
        fn = template.one("google_cloudfunctions2_function", name=env.resource_name(manifest.name))
        variables = fn["service_config"]["environment_variables"]
        if manifest.calls_track_api:
            budget = env.customerio.request_budget_per_second * shares[manifest.name]
            expected = budget / env.scaling(manifest.name).max_instances
            assert float(variables["CIO_RATE_LIMIT_PER_SECOND"]) == pytest.approx(expected, 1e-3)
        elif manifest.calls_app_api:  # the App API's own budget, split on its own
            budget = env.customerio.app_request_budget_per_second * app_shares[manifest.name]
            expected = budget / env.scaling(manifest.name).max_instances
            assert float(variables["CIO_RATE_LIMIT_PER_SECOND"]) == pytest.approx(expected, 1e-3)
        else:
            assert "CIO_RATE_LIMIT_PER_SECOND" not in variables
            assert contract.RATE_LIMIT_MAX_WAIT not in variables
            continue
        # how long a delivery may wait for that budget: the environment's setting
        wait = variables[contract.RATE_LIMIT_MAX_WAIT]
        assert int(wait) == env.customerio.rate_limit_max_wait_ms


def test_producers_may_only_publish_to_event_topics(template: Template, env_name: str) -> None:
    env = environment(env_name)
    for principal in env.publishers:
        grants = [
            g
            for g in template.resources("google_pubsub_topic_iam_member").values()
            if g["member"] == principal
        ]
        assert {g["role"] for g in grants} == {"roles/pubsub.publisher"}
        assert len(grants) == len(consumed_topics(env.name))
    project_members = {
        m["member"] for m in template.resources("google_project_iam_member").values()
    }
    assert not set(env.publishers) & project_members


def test_no_primitive_roles(template: Template) -> None:
    roles = {body["role"] for _, _, body in template.all_resources() if "role" in body}
    assert not roles & {"roles/owner", "roles/editor", "roles/viewer"}


def test_labels_and_names(template: Template, env_name: str) -> None:
    for rtype, name, body in template.all_resources():
        if rtype in LABELLABLE_WITH_LABELS:
            labels = body["labels"]
            assert labels["environment"] == env_name and labels["managed-by"] == "cdktf", name
            assert labels["component"], name
        if rtype in {
            "google_pubsub_topic",
            "google_pubsub_subscription",
            "google_cloudfunctions2_function",
        }:
            assert NAME.match(body["name"]), body["name"]
    for policy in template.resources("google_monitoring_alert_policy").values():
        assert policy["user_labels"]["environment"] == env_name


def test_analytics_table_and_subscription(template: Template, env_name: str) -> None:
    env = environment(env_name)
    dataset = template.one("google_bigquery_dataset", dataset_id=f"cio_{env_name}_analytics")
    assert dataset["location"] == env.bigquery.location
    table = template.one("google_bigquery_table", table_id="webhook_events")
    assert table["time_partitioning"]["field"] == "timestamp"
    assert table["time_partitioning"]["type"] == "DAY"
    assert (
        table["time_partitioning"]["expiration_ms"]
        == env.bigquery.partition_expiration_days * 86_400_000
    )
    assert table["clustering"] == ["metric", "object_type"]
    sub = template.one("google_pubsub_subscription", name=f"cio-{env_name}-webhook-events-bq")
    assert sub["bigquery_config"]["use_table_schema"] is True
    assert (
        sub["bigquery_config"]["table"]
        == f"{env.project_id}.cio_{env_name}_analytics.webhook_events"
    )
    assert "webhook-events-dead-letter" in sub["dead_letter_policy"]["dead_letter_topic"]
    editors = template.find("google_bigquery_dataset_iam_member", role="roles/bigquery.dataEditor")
    agent = [e for e in editors if e["member"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")]
    assert len(agent) == 1 and "analytics_dataset" in agent[0]["dataset_id"]
    # the only other editor is the ledger sink's writer, on the ledger dataset (test_ledger.py)
    assert all("ledger_dataset" in e["dataset_id"] for e in editors if e not in agent)
    readers = template.find("google_bigquery_dataset_iam_member", role="roles/bigquery.dataViewer")
    by_dataset: dict[str, list[str]] = {}
    for reader in readers:
        if SMOKE_ACCOUNT in reader["member"]:
            continue  # the smoke check's event row (tests/cicd/test_smoke_identity.py)
        by_dataset.setdefault(reader["dataset_id"].split(".")[1], []).append(reader["member"])
    # the named readers see the reporting views only; raw (personal) data is raw_readers'
    raw = [m for d, ms in by_dataset.items() if "analytics_dataset_" in d for m in ms]
    reporting = [m for d, ms in by_dataset.items() if "reporting-dataset" in d for m in ms]
    assert sorted(reporting) == sorted(env.bigquery.readers)
    assert sorted(raw) == sorted(env.bigquery.raw_readers)
    access = template.resources("google_bigquery_dataset_access").values()
    authorized = {a["view"]["table_id"].split(".")[1] for a in access}
    views = template.resources("google_bigquery_table")
    in_reporting = {
        k for k, v in views.items() if "reporting-dataset" in str(v.get("dataset_id", ""))
    }
    assert authorized == in_reporting and in_reporting
    for key in in_reporting:
        sql = "\n".join(
            line for line in views[key]["view"]["query"].splitlines() if not line.startswith("--")
        )
        selected = set(re.findall(r"\w+", sql.split("FROM")[0]))
        assert not {"customer_id", "data", "attributes", "extra"} & selected


def test_monitoring(template: Template, env_name: str) -> None:
    env = environment(env_name)
    template.resource_count_is("google_logging_metric", 2)  # decisions, unknown outcomes
    template.resource_count_is("google_monitoring_dashboard", 1)
    policies = template.resources("google_monitoring_alert_policy").values()
    assert len(policies) == 5
    for policy in policies:
        assert policy["notification_channels"] == env.monitoring.notification_channels
        assert policy["documentation"]["content"]
    metric = template.one("google_logging_metric", name=f"cio-{env_name}-handler-decisions")
    assert "jsonPayload.decision" in metric["filter"]


def test_handler_source_is_a_content_addressed_zip(template: Template, env_name: str) -> None:
    objects = template.resources("google_storage_bucket_object").values()
    names = sorted(o["name"] for o in objects)
    assert [n.rsplit("-", 1)[0] for n in names] == sorted(m.name for m in deployed(env_name))
    assert all(re.match(r"^[a-z]+-[0-9a-f]{16}\.zip$", n) for n in names)
    assert all(o["source"].startswith("assets/") for o in objects)


def test_person_operations_are_pushed_in_order(template: Template, env_name: str) -> None:
    for manifest in deployed(env_name):
        if manifest.topic:
            name = f"cio-{env_name}-{manifest.topic}-push"
            push = template.one("google_pubsub_subscription", name=name)
            assert push["enable_message_ordering"] is manifest.ordered


def test_outputs_name_the_webhook_url_dead_letters_and_kms_needs(
    templates: dict[str, Template],
) -> None:
    for name, template in templates.items():
        outputs = template.data["output"]
        assert outputs["webhook_url"]["value"].endswith(
            "webhook_function_4845D81D.service_config[0].uri}"
        )
        assert len(outputs["dead_letter_subscriptions"]["value"]) == 4
        kms = outputs.get("kms_key_users_required")
        assert (kms is not None) == bool(environment(name).kms_keys)
    agents = templates["prod"].data["output"]["kms_key_users_required"]["value"]
    ring = "projects/acme-security/locations/{}/keyRings/cio/cryptoKeys/cio-prod"
    assert agents == {
        ring.format("europe"): [
            "serviceAccount:bq-323456789012@bigquery-encryption.iam.gserviceaccount.com"
        ],
        ring.format("europe-west1"): [
            "serviceAccount:service-323456789012@gcp-sa-firestore.iam.gserviceaccount.com",
            "serviceAccount:service-323456789012@gcp-sa-pubsub.iam.gserviceaccount.com",
            "serviceAccount:service-323456789012@gcp-sa-secretmanager.iam.gserviceaccount.com",
        ],
        ring.format("europe-west4"): [
            "serviceAccount:service-323456789012@gcp-sa-secretmanager.iam.gserviceaccount.com"
        ],
    }
