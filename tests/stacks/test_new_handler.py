"""A new Pub/Sub handler is one folder: the user's trial, kept as a test.

Copy an existing handler under a new name and topic in a temporary tree, change nothing
else, and the platform takes it: synth derives its topic, dead-letter topic, push
subscription, identity lookups and variables in every environment; the real policy gate
passes; the handler starts under functions-framework with exactly the variables the stack
gives it, and delivers an event to the Customer.io simulator.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cio_shared import contract

from stacks.app import synth
from stacks.config import load_environments
from stacks.manifests import MANIFEST, ManifestError, discover, manifest_schema
from stacks.platform import SourceTree
from tests.delivery.harness import (
    SITE_ID,
    TRACK_API_KEY,
    envelope,
    event_message,
    push,
    simulator,
    wait_until,
)
from tests.policy.gate import run_gate
from tests.stacks.template import Template
from tests.support.processes import function_server

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
HANDLERS = [m.name for m in discover(FUNCTIONS)]


def test_checked_in_manifest_schema_matches_the_model() -> None:
    checked_in = json.loads((FUNCTIONS / "handler.schema.json").read_text())
    assert checked_in == json.loads(json.dumps(manifest_schema())), "run `make schema`"


@pytest.mark.parametrize("name", HANDLERS)
def test_every_manifest_points_editors_at_the_schema(name: str) -> None:
    text = (FUNCTIONS / name / MANIFEST).read_text()
    assert text.startswith("# yaml-language-server: $schema=../handler.schema.json\n")
    schema = json.loads((FUNCTIONS / "handler.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(text), schema)


def _build_handler_call(main: Path) -> dict[str, Any]:
    for node in ast.walk(ast.parse(main.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "build_handler":
            return {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    return {}


@pytest.mark.parametrize("name", HANDLERS)
def test_manifest_and_code_agree(name: str) -> None:
    """What would otherwise crash after deploy fails here: the entry point exists, and a
    delivery handler's code names the handler and topic its manifest declares."""
    (manifest,) = [m for m in discover(FUNCTIONS) if m.name == name]
    main = FUNCTIONS / name / "main.py"
    functions = {
        n.name
        for n in ast.walk(ast.parse(main.read_text()))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert manifest.entry_point in functions
    if manifest.topic:
        call = _build_handler_call(main)
        assert call == {"handler": name, "topic": manifest.topic}
        assert set(manifest.carries) <= set(contract.MESSAGE_ACTIONS)


@pytest.mark.parametrize(
    "imports",
    ["import functions_framework.aio", "from functions_framework import aio"],
)
def test_a_public_handler_on_the_asgi_server_is_refused(tmp_path: Path, imports: str) -> None:
    """The webhook's limits live in gunicorn (docs/security.md): a public handler copied from
    track's ASGI main.py fails discovery, naming the file and the fix."""
    folder = tmp_path / "functions" / "hooks"
    shutil.copytree(FUNCTIONS / "webhook", folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert discover(tmp_path / "functions")[0].public  # the copy as it is: accepted
    (folder / "main.py").write_text(
        f"{imports}\n\n\n@functions_framework.aio.http\nasync def handle(request):\n    ...\n"
    )
    with pytest.raises(ManifestError, match=r"hooks/main.py: trigger http_public with "):
        discover(tmp_path / "functions")


def new_handler_tree(tmp_path: Path, name: str, topic: str) -> Path:
    """A copy of functions/ with `track` copied as `name` consuming `topic`."""
    functions = tmp_path / "functions"
    shutil.copytree(FUNCTIONS, functions, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(functions / "track", functions / name)
    manifest_path = functions / name / MANIFEST
    manifest = yaml.safe_load(manifest_path.read_text())
    manifest.update(topic=topic, carries=["event"], description=f"{name} events")
    manifest_path.write_text(yaml.safe_dump(manifest))
    main = functions / name / "main.py"
    main.write_text(
        main.read_text().replace(
            'build_handler(handler="track", topic="track")',
            f'build_handler(handler="{name}", topic="{topic}")',
        )
    )
    return functions


@pytest.mark.integration
@pytest.mark.slow
def test_a_copied_handler_is_one_folder(tmp_path: Path, pubsub_emulator_host: str) -> None:
    functions = new_handler_tree(tmp_path, "orders", "orders")
    tree = SourceTree(functions, REPO / "analytics", tmp_path / "build")
    environments = load_environments()
    out = synth(environments, tmp_path / "out", tree=tree)
    for env in environments:
        template = Template.from_file(out[env.name])
        name = env.resource_name
        template.one("google_pubsub_topic", name=name("orders"))
        template.one("google_pubsub_topic", name=name("orders-dead-letter"))
        push_sub = template.one("google_pubsub_subscription", name=name("orders-push"))
        assert "orders-dead-letter" in push_sub["dead_letter_policy"]["dead_letter_topic"]
        template.one("google_pubsub_subscription", name=name("orders-dead-letter"))
        template.has_resource_properties("data.google_service_account", account_id=name("orders"))
        function = template.one("google_cloudfunctions2_function", name=name("orders"))
        variables = function["service_config"]["environment_variables"]
        assert variables[contract.SOURCE_TOPIC].endswith(f"/topics/{name('orders')}")
        assert variables[contract.TOPIC_ACTIONS] == "event"
    gate = run_gate(tmp_path / "out", tmp_path / "reports")
    assert gate.returncode == 0, gate.stdout + gate.stderr

    dev = Template.from_file(out["dev"])
    stack_vars = dev.one("google_cloudfunctions2_function", name="cio-dev-orders")
    env_vars = dict(stack_vars["service_config"]["environment_variables"])
    dead_letters = dead_letter_subscription(env_vars[contract.DEAD_LETTER_TOPIC])
    with simulator() as sim:
        env_vars.update(
            CIO_SITE_ID=SITE_ID,
            CIO_TRACK_API_KEY=TRACK_API_KEY,
            CIO_TRACK_URL=sim.url,
            PUBSUB_EMULATOR_HOST=pubsub_emulator_host,
        )
        with function_server(functions / "orders" / "main.py", "handle", env=env_vars) as url:
            message = event_message("order_placed")
            answer = push(url, envelope(json.dumps(message).encode()))
            assert answer.status_code < 300, answer.text
            assert wait_until(lambda: message["event_id"] in sim.events(), timeout=10)
            page = {**event_message(), "action": "page", "name": "/checkout"}
            refused = push(url, envelope(json.dumps(page).encode()))
            assert refused.status_code < 300, refused.text  # acked once dead-lettered
    (dead,) = pull(dead_letters)
    assert dead.message.attributes["cio_reason"] == "wrong_topic"
    assert dead.message.attributes["cio_source_topic"] == env_vars[contract.SOURCE_TOPIC]


def dead_letter_subscription(topic: str) -> str:
    """The dead-letter topic the stack names, created in the emulator with a pull subscription."""
    from google.cloud import pubsub_v1

    subscription = topic.replace("/topics/", "/subscriptions/")
    pubsub_v1.PublisherClient().create_topic(name=topic)
    pubsub_v1.SubscriberClient().create_subscription(name=subscription, topic=topic)
    return subscription


def pull(subscription: str) -> list[Any]:
    from google.cloud import pubsub_v1

    answer = pubsub_v1.SubscriberClient().pull(
        subscription=subscription, max_messages=10, timeout=10
    )
    return list(answer.received_messages)
