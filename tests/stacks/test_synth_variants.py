"""Synth behaviour beyond the repository's environments: rules, new files, first deploy, zips."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import yaml
from cio_shared import contract

from stacks import cdk
from stacks.app import PolicyViolation, default_tree, synth
from stacks.config import load_environments
from stacks.packaging import build_package
from stacks.platform import PlatformStack
from tests.stacks.template import Template

REPO = Path(__file__).resolve().parents[2]


def dev_with(tmp_path: Path, name: str, **overrides: object) -> Path:
    data = yaml.safe_load((REPO / "environments" / "dev.yaml").read_text())
    data.update(overrides)
    folder = tmp_path / "environments"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return folder


def test_a_new_environment_is_a_new_file(tmp_path: Path) -> None:
    folder = dev_with(tmp_path, "qa", project_id="acme-cio-qa", state_bucket="acme-cio-tfstate-qa")
    out = synth(load_environments(folder=folder), tmp_path / "out")
    template = Template.from_file(out["qa"])
    template.has_resource_properties(
        "google_cloudfunctions2_function", name="cio-qa-track", project="acme-cio-qa"
    )
    assert template.data["terraform"]["backend"]["gcs"]["prefix"] == "cio/qa"


def test_first_deploy_has_platform_and_empty_secrets_but_no_handlers(tmp_path: Path) -> None:
    folder = dev_with(tmp_path, "dev", deploy_handlers=False)
    template = Template.from_file(synth(load_environments(folder=folder), tmp_path / "out")["dev"])
    template.resource_count_is("google_cloudfunctions2_function", 0)
    template.resource_count_is("google_secret_manager_secret", len(contract.SECRET_NAMES))
    template.resource_count_is("google_secret_manager_secret_version", 0)
    assert template.find("google_pubsub_topic", name="cio-dev-track")
    assert not [
        s for s in template.resources("google_pubsub_subscription").values() if "push_config" in s
    ]


def test_a_disabled_handler_takes_its_topic_with_it(tmp_path: Path) -> None:
    handlers = yaml.safe_load((REPO / "environments" / "dev.yaml").read_text())["handlers"]
    handlers["track"] = {**handlers["track"], "enabled": False}
    folder = dev_with(tmp_path, "dev", handlers=handlers)
    template = Template.from_file(synth(load_environments(folder=folder), tmp_path / "out")["dev"])
    assert not template.find("google_cloudfunctions2_function", name="cio-dev-track")
    topics = {t["name"] for t in template.resources("google_pubsub_topic").values()}
    assert "cio-dev-track" not in topics and "cio-dev-identify" in topics


def test_the_old_topic_flag_points_at_the_handler_switch(tmp_path: Path) -> None:
    from stacks.config import ConfigError

    with pytest.raises(ConfigError, match=r"transactional_topic: renamed; use handlers"):
        load_environments(folder=dev_with(tmp_path, "dev", transactional_topic=True))


def _break_rules(stack: PlatformStack) -> None:
    cdk.PubsubSubscription(
        stack,
        "no-dead-letter",
        name="cio-dev-rogue",
        topic="cio-dev-track",
        push_config={"push_endpoint": "https://example.invalid/"},
        labels={"component": "test"},
    )
    cdk.ProjectIamMember(
        stack, "editor", project="p", role="roles/editor", member="user:a@example.com"
    )
    cdk.CloudRunV2ServiceIamMember(
        stack,
        "public",
        name="cio-dev-track",
        location="europe-west1",
        role="roles/run.invoker",
        member="allUsers",
    )


def test_a_broken_rule_fails_synth_and_leaves_no_output(tmp_path: Path) -> None:
    envs = [e for e in load_environments() if e.name == "dev"]
    with pytest.raises(PolicyViolation) as info:
        synth(envs, tmp_path / "out", extend=_break_rules)
    message = str(info.value)
    assert "dev/no-dead-letter: push subscription without a dead-letter policy" in message
    assert "dev/editor: primitive role roles/editor" in message
    assert "dev/public: allUsers may be granted only to the public webhook handler" in message
    assert not (tmp_path / "out" / "stacks" / "dev").exists()


def test_synth_is_deterministic(tmp_path: Path, synthesized: dict[str, Path]) -> None:
    again = synth([e for e in load_environments() if e.name == "staging"], tmp_path / "out")
    assert again["staging"].read_bytes() == synthesized["staging"].read_bytes()


def test_handler_zip_is_reproducible_and_carries_the_shared_library(tmp_path: Path) -> None:
    tree = default_tree()
    first = build_package(
        tree.functions_dir / "track", tree.functions_dir / "cio_shared", tmp_path / "a"
    )
    second = build_package(
        tree.functions_dir / "track", tree.functions_dir / "cio_shared", tmp_path / "b"
    )
    assert first.path.read_bytes() == second.path.read_bytes()
    names = zipfile.ZipFile(first.path).namelist()
    assert {"main.py", "requirements.txt", "handler.yaml", "cio_shared/__init__.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_a_code_change_changes_only_that_handlers_object(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    for name in ("track", "cio_shared"):
        src = REPO / "functions" / name
        for path in src.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                target = functions / name / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    before = build_package(functions / "track", functions / "cio_shared", tmp_path / "a")
    (functions / "track" / "main.py").write_text(
        (functions / "track" / "main.py").read_text() + "\n# changed\n"
    )
    after = build_package(functions / "track", functions / "cio_shared", tmp_path / "b")
    assert before.object_name != after.object_name


def test_key_rotation_pins_the_previous_version(tmp_path: Path) -> None:
    folder = dev_with(tmp_path, "dev", previous_secret_versions={"webhook-signing-key": "3"})
    template = Template.from_file(synth(load_environments(folder=folder), tmp_path / "out")["dev"])
    webhook = template.one("google_cloudfunctions2_function", name="cio-dev-webhook")
    variables = {v["key"]: v for v in webhook["service_config"]["secret_environment_variables"]}
    assert variables["CIO_WEBHOOK_SIGNING_KEY"]["version"] == "1"  # secret_versions pin
    assert variables["CIO_WEBHOOK_SIGNING_KEY_PREVIOUS"]["version"] == "3"
    assert (
        variables["CIO_WEBHOOK_SIGNING_KEY_PREVIOUS"]["secret"]
        == variables["CIO_WEBHOOK_SIGNING_KEY"]["secret"]
    )


def test_without_rotation_the_previous_key_variable_is_unset(
    templates: dict[str, Template],
) -> None:
    webhook = templates["dev"].one("google_cloudfunctions2_function", name="cio-dev-webhook")
    keys = [v["key"] for v in webhook["service_config"]["secret_environment_variables"]]
    assert keys == ["CIO_WEBHOOK_SIGNING_KEY"]


def test_a_pipelines_environment_wires_the_pipelines_key_instead_of_the_track_credentials(
    tmp_path: Path,
) -> None:
    """`customerio.api: pipelines`: track and identify read only the Pipelines key (pinned
    like every secret), are told which API to call, and hold no Track credential grant."""
    from stacks.readiness import ReadinessError

    raw = yaml.safe_load((REPO / "environments" / "dev.yaml").read_text())
    customerio = {**raw["customerio"], "api": "pipelines"}
    folder = dev_with(tmp_path, "dev", customerio=customerio)
    with pytest.raises(ReadinessError, match=r"secret_versions\.pipelines-api-key"):
        synth(load_environments(folder=folder), tmp_path / "refused")
    pins = {**raw["secret_versions"], "pipelines-api-key": 2}
    folder = dev_with(tmp_path, "dev", customerio=customerio, secret_versions=pins)
    template = Template.from_file(synth(load_environments(folder=folder), tmp_path / "out")["dev"])
    for handler in ("track", "identify"):
        function = template.one("google_cloudfunctions2_function", name=f"cio-dev-{handler}")
        service = function["service_config"]
        assert service["environment_variables"]["CIO_DELIVERY_API"] == "pipelines"
        secrets = {v["key"]: v["version"] for v in service["secret_environment_variables"]}
        assert secrets == {"CIO_PIPELINES_API_KEY": "2"}
    granted = {
        (match[1], grant["secret_id"].split("secrets_")[1].split("_")[0])
        for grant in template.resources("google_secret_manager_secret_iam_member").values()
        if (match := re.search(r"account-([a-z]+)_", grant["member"]))
    }
    for handler in ("track", "identify"):
        assert (handler, "pipelines-api-key") in granted
        assert not {(handler, "site-id"), (handler, "track-api-key")} & granted
    # the Pipelines path's guards: the claims database, its variables, a conditioned grant, and
    # a TTL policy on each collection the guards write
    ttls = {f["collection"] for f in template.resources("google_firestore_field").values()}
    assert ttls == {
        contract.CLAIMS_COLLECTION,
        contract.PIPELINES_DELIVERED_COLLECTION,
        contract.PIPELINES_TRAITS_COLLECTION,
    }
    database = template.one("google_firestore_database", name="cio-dev-claims")
    assert database["location_id"] == "europe-west1"
    datastore_users = [
        grant["member"]
        for grant in template.resources("google_project_iam_member").values()
        if grant["role"] == "roles/datastore.user"
    ]
    for handler in ("track", "identify"):
        function = template.one("google_cloudfunctions2_function", name=f"cio-dev-{handler}")
        variables = function["service_config"]["environment_variables"]
        assert variables[contract.FIRESTORE_DATABASE] == "cio-dev-claims"
        assert int(variables[contract.CLAIM_TTL]) > 0
        assert any(f"account-{handler}_" in member for member in datastore_users), handler
