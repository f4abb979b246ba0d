"""One DeliveryHandler, both of functions-framework's servers: the same decisions either way.

track's and identify's `main.py` serve it on the ASGI server (`serve`, a coroutine); a WSGI
`main.py` (Flask) can still call it (`__call__`). Both go through `create_app`, as
functions-framework serves them; the process tests (test_integration, test_no_loss) cover the
ASGI path against the simulator and the Pub/Sub emulator.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cio_shared.delivery.decisions import Outcome, from_status, transport_error
from functions_framework import _function_registry
from starlette.testclient import TestClient

from tests.delivery import harness as h
from tests.delivery.test_handler_decisions import TRACE, RecordingSender, make, push_body

ASGI_MAIN = """
import functions_framework.aio
from {module} import HANDLER

@functions_framework.aio.http
async def handle(request):
    return await HANDLER.serve(request)
"""
WSGI_MAIN = """
import functions_framework
from {module} import HANDLER

@functions_framework.http
def handle(request):
    return HANDLER(request)
"""


class AsyncRecordingSender(RecordingSender):
    async def send_async(self, operation: bytes) -> Outcome:
        return self.send(operation)


EVENT = push_body(json.dumps(h.event_message()).encode())
CASES: list[tuple[str, Outcome, bytes, int, str]] = [
    ("delivered", from_status(200), EVENT, 200, "delivered"),
    ("rate limited", from_status(429), EVENT, 503, "retry"),
    ("timeout", transport_error("timeout", "t"), EVENT, 503, "retry"),
    ("rejected", from_status(400), EVENT, 200, "dead_lettered"),
    ("not json", from_status(200), b"{not json", 200, "dead_lettered"),
    ("bad base64", from_status(200), push_body("!!!"), 200, "dead_lettered"),
]  # fmt: skip


@pytest.mark.parametrize("sender_kind", ["async", "threads only"])
@pytest.mark.parametrize(
    ("case", "outcome", "body", "status", "decision"), CASES, ids=[c[0] for c in CASES]
)
def test_handle_async_decides_as_handle(
    case: str, outcome: Outcome, body: bytes, status: int, decision: str, sender_kind: str
) -> None:
    answers = []
    for run_async in (False, True):
        handler, stream = make(outcome)
        if sender_kind == "async":
            handler.sender = AsyncRecordingSender(outcome)
        if run_async:
            text, code = asyncio.run(handler.handle_async(body, TRACE))
        else:
            text, code = handler.handle(body, TRACE)
        line = json.loads(stream.getvalue().splitlines()[-1])
        answers.append((json.loads(text), code, line["decision"], line["reason"]))
    assert answers[0] == answers[1]
    assert answers[0][1] == status and answers[0][2] == decision


@pytest.fixture
def handler_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """A module holding one recorded handler, importable by the generated main.py files."""
    # functions-framework registers decorated functions by name, process-wide: keep this
    # test's ASGI `handle` from turning later in-process apps named `handle` into ASGI ones.
    monkeypatch.setattr(_function_registry, "ASGI_FUNCTIONS", set())
    monkeypatch.setattr(_function_registry, "REGISTRY_MAP", {})
    handler, stream = make(from_status(200))
    module = f"cio_test_handler_{id(handler)}"
    (tmp_path / f"{module}.py").write_text("HANDLER = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = __import__(module)
    imported.HANDLER = handler
    return module, stream


def _app(tmp_path: Path, text: str, module: str) -> Any:
    source = tmp_path / f"main_{abs(hash(text))}.py"
    source.write_text(text.format(module=module))
    return functions_framework.create_app("handle", str(source))


def test_both_servers_give_the_same_answers(tmp_path: Path, handler_module) -> None:
    module, stream = handler_module
    body = push_body(json.dumps(h.event_message()).encode())
    wsgi = _app(tmp_path, WSGI_MAIN, module).test_client().post("/", data=body, headers=TRACE)
    asgi = TestClient(_app(tmp_path, ASGI_MAIN, module)).post("/", content=body, headers=TRACE)
    expected = (200, {"decision": "delivered", "reason": "ok"}, "application/json")
    assert (asgi.status_code, asgi.json(), asgi.headers["content-type"]) == expected
    assert (wsgi.status_code, wsgi.get_json(), wsgi.headers["content-type"]) == expected
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["decision"] for line in lines] == ["delivered", "delivered"]  # one each
    trace = "0123456789abcdef0123456789abcdef"
    assert all(line["logging.googleapis.com/trace"].endswith(trace) for line in lines)


def test_asgi_server_refuses_what_is_not_a_push(tmp_path: Path, handler_module) -> None:
    module, stream = handler_module
    client = TestClient(_app(tmp_path, ASGI_MAIN, module))
    response = client.get("/")
    assert response.status_code == 405
    assert response.json() == {"error": "push deliveries are POST requests"}
    response = client.post("/", content=base64.b64encode(b"x"))
    assert response.status_code == 200 and response.json()["decision"] == "dead_lettered"
    assert stream.getvalue().count("\n") == 1  # the GET decided nothing
