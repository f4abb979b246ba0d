"""`make local`: the whole integration on 127.0.0.1, wired together, in one command.

Starts Google's Pub/Sub emulator, the Customer.io simulator and every handler of
functions/*/handler.yaml under functions-framework (and Google's Firestore emulator when a
manifest asks for `firestore`). Creates the topics and subscriptions the stacks would, named
as cio_shared.contract names them (`cio-local-<purpose>`): per Pub/Sub-push handler its
topic, its dead-letter topic with a pull subscription, and a push subscription to the local
handler with the dead-letter policy (ordered when the manifest says `ordered`); for the
webhook handler the topics it publishes to, each with a pull subscription of the same name.
Prints where everything listens and how to send a first event, then waits; Ctrl-C (SIGINT)
or SIGTERM stops every child and waits for it.

    .venv/bin/python scripts/local_run.py             # fixed ports: 8085, 8089, 8080...
    .venv/bin/python scripts/local_run.py --free-ports
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = REPO / "functions"
sys.path.insert(0, str(FUNCTIONS))

from cio_shared import contract  # noqa: E402

# Where the Debian package google-cloud-cli-pubsub-emulator puts it (as tests/support/processes.py
# finds it); CIO_PUBSUB_EMULATOR_LAUNCHER overrides.
PUBSUB_LAUNCHER = Path(
    os.environ.get("CIO_PUBSUB_EMULATOR_LAUNCHER")
    or "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)
FIRESTORE_LAUNCHER = Path(
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"
)
ENVIRONMENT = "local"
PROJECT = "cio-local"
MAX_DELIVERY_ATTEMPTS = 5
ACK_DEADLINE_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10.0
# The simulator's default credentials (cio-simulator --help), handed to the handlers.
CREDENTIALS = {
    "site-id": "sim-site-id",
    "track-api-key": "sim-track-api-key",
    "app-api-key": "sim-app-api-key",
    "webhook-signing-key": "local-webhook-signing-key",
}
READY = "cio-local ready"


class LocalRunError(Exception):
    """Something needed is missing or did not start; the message says what to do."""


@dataclass
class Handler:
    name: str
    manifest: dict[str, Any]
    port: int = 0

    @property
    def topic(self) -> str | None:
        topic = self.manifest.get("topic")
        return str(topic) if self.manifest.get("trigger") == "pubsub_push" and topic else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Stack:
    """Every process started, in start order (stopped in reverse)."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Child:
        log = self.log_dir / f"{name}.log"
        with open(log, "wb") as out:
            # its own process group: the emulators' launchers start Java as a child, and the
            # whole group is stopped together
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=REPO,
                start_new_session=True,
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            _signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in reversed(self.children):
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.proc, signal.SIGKILL)
                child.proc.wait(5)
            # the group may outlive its leader (a launcher script's Java child)
            _signal_group(child.proc, signal.SIGKILL)

    def exited(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(child: Child, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise LocalRunError(
                f"{child.name} exited with {child.proc.returncode} before listening on "
                f"{port}; its log: {child.log}\n{_tail(child.log)}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise LocalRunError(f"{child.name} does not listen on 127.0.0.1:{port} after {timeout:g} s")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def manifests() -> list[Handler]:
    """Every handler folder with a handler.yaml, in name order."""
    return [
        Handler(path.parent.name, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        for path in sorted(FUNCTIONS.glob("*/handler.yaml"))
    ]


def name(purpose: str) -> str:
    return contract.resource_name(contract.DEFAULT_PREFIX, ENVIRONMENT, purpose)


def topic(purpose: str) -> str:
    return contract.topic_path(PROJECT, name(purpose))


def subscription(purpose: str) -> str:
    return f"projects/{PROJECT}/subscriptions/{name(purpose)}"


def handler_env(
    handler: Handler, pubsub: str, simulator: str, firestore: str | None
) -> dict[str, str]:
    """A handler's variables, as the stack injects them, pointed at the local stand-ins."""
    manifest = handler.manifest
    env: dict[str, str] = {
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS), os.environ.get("PYTHONPATH", "")]),
        "PUBSUB_EMULATOR_HOST": pubsub,
        contract.PROJECT: PROJECT,
        contract.ENVIRONMENT: ENVIRONMENT,
        contract.REGION: "us",
        "CIO_TRACK_URL": simulator,
        "CIO_APP_URL": simulator,
        **{str(k): str(v) for k, v in (manifest.get("env") or {}).items()},
    }
    for variable, secret in (manifest.get("secrets") or {}).items():
        if "@" not in str(secret):  # `<secret>@previous` is set only during a rotation
            env[str(variable)] = CREDENTIALS[str(secret)]
    for variable, purpose in (manifest.get("publishes") or {}).items():
        env[str(variable)] = topic(str(purpose))
    if handler.topic:
        env[contract.SOURCE_TOPIC] = topic(handler.topic)
        env[contract.DEAD_LETTER_TOPIC] = topic(contract.dead_letter_of(handler.topic))
        env[contract.TOPIC_ACTIONS] = ",".join(str(a) for a in manifest.get("carries") or [])
    if manifest.get("firestore") and firestore:
        env["FIRESTORE_EMULATOR_HOST"] = firestore
    return env


def create_topics(handlers: list[Handler]) -> list[str]:
    """The topics and pull subscriptions (push subscriptions come once the handlers listen)."""
    from cio_shared.common import publisher as publisher_client
    from cio_shared.common import subscriber as subscriber_client

    publisher, subscriber = publisher_client(), subscriber_client()
    made = []
    for handler in handlers:
        purposes = list((handler.manifest.get("publishes") or {}).values())
        if handler.topic:
            publisher.create_topic(name=topic(handler.topic))
            made.append(name(handler.topic))
            purposes.append(contract.dead_letter_of(handler.topic))
        for purpose in map(str, purposes):
            publisher.create_topic(name=topic(purpose))
            subscriber.create_subscription(name=subscription(purpose), topic=topic(purpose))
            made.append(f"{name(purpose)} (+ pull subscription)")
    return made


def create_push_subscription(handler: Handler) -> str:
    from cio_shared.common import subscriber

    assert handler.topic is not None
    purpose = f"{handler.topic}-push"
    subscriber().create_subscription(
        request={
            "name": subscription(purpose),
            "topic": topic(handler.topic),
            "push_config": {"push_endpoint": f"{handler.url}/"},
            "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
            "enable_message_ordering": bool(handler.manifest.get("ordered")),
            "dead_letter_policy": {
                "dead_letter_topic": topic(contract.dead_letter_of(handler.topic)),
                "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
            },
        }
    )
    return name(purpose)


def _port(wanted: int, free: bool) -> int:
    return free_port() if free or wanted == 0 else wanted


@dataclass
class Started:
    lines: list[str]
    pubsub: str
    simulator: str


def start(stack: Stack, args: argparse.Namespace) -> Started:
    """Start everything; return the summary lines to print and the two addresses."""
    if not PUBSUB_LAUNCHER.exists():
        raise LocalRunError(
            f"the Pub/Sub emulator is not installed ({PUBSUB_LAUNCHER} is missing): install "
            "the Debian package google-cloud-cli-pubsub-emulator and Java 17 "
            "(sudo apt-get install google-cloud-cli-pubsub-emulator openjdk-17-jre-headless)"
        )
    handlers = manifests()
    lines = []
    pubsub_port = _port(args.pubsub_port, args.free_ports)
    emulator = stack.start(
        "pubsub-emulator",
        [str(PUBSUB_LAUNCHER), "--host=127.0.0.1", f"--port={pubsub_port}"],
    )
    firestore = None
    wants_firestore = [h.name for h in handlers if h.manifest.get("firestore")]
    if wants_firestore and FIRESTORE_LAUNCHER.exists():
        firestore_port = _port(args.firestore_port, args.free_ports)
        store = stack.start(
            "firestore-emulator",
            [str(FIRESTORE_LAUNCHER), "start", "--host=127.0.0.1", f"--port={firestore_port}"],
        )
        firestore = f"127.0.0.1:{firestore_port}"
    elif wants_firestore:
        skipped = ", ".join(wants_firestore)
        handlers = [h for h in handlers if not h.manifest.get("firestore")]
        lines.append(
            f"skipped      {skipped}: needs the Firestore emulator (Debian package "
            "google-cloud-cli-firestore-emulator)"
        )
    simulator_port = _port(args.simulator_port, args.free_ports)
    simulator = stack.start(
        "simulator",
        [str(Path(sys.executable).parent / "cio-simulator"), "--port", str(simulator_port)],
    )
    pubsub = f"127.0.0.1:{pubsub_port}"
    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub  # this process's admin client
    wait_for_port(emulator, pubsub_port, 60)
    if firestore:
        wait_for_port(store, int(firestore.rsplit(":", 1)[1]), 60)
    wait_for_port(simulator, simulator_port, 30)
    sim_url = f"http://127.0.0.1:{simulator_port}"
    made = create_topics(handlers)

    next_port = args.handler_port
    started = []
    for handler in handlers:
        handler.port = _port(next_port, args.free_ports)
        next_port += 1
        source = FUNCTIONS / handler.name / "main.py"
        argv = [
            sys.executable,
            "-m",
            "functions_framework",
            f"--source={source}",
            f"--target={handler.manifest.get('entry_point', 'handle')}",
            "--host=127.0.0.1",
            f"--port={handler.port}",
        ]
        env = handler_env(handler, pubsub, sim_url, firestore)
        started.append((handler, stack.start(handler.name, argv, env)))
    for handler, child in started:
        wait_for_port(child, handler.port, 30)
        if handler.topic:
            made.append(f"{create_push_subscription(handler)} -> {handler.url}/")

    lines += [
        f"pubsub       {pubsub} (emulator, project {PROJECT}; pid {emulator.proc.pid})",
        *([f"firestore    {firestore} (emulator; pid {store.proc.pid})"] if firestore else []),
        f"simulator    {sim_url} (Customer.io stand-in; pid {simulator.proc.pid})",
        *(
            f"handler      {h.name:<13} {h.url}/ ({h.manifest.get('trigger')}; pid {c.proc.pid})"
            for h, c in started
        ),
        *(f"pubsub       {m}" for m in made),
        f"logs         {stack.log_dir}/*.log",
    ]
    return Started(lines, pubsub, sim_url)


def first_event(pubsub: str, simulator: str) -> list[str]:
    env = (
        f"PUBSUB_EMULATOR_HOST={pubsub} GOOGLE_CLOUD_PROJECT={PROJECT} "
        f"CIO_TRACK_TOPIC={name('track')} PYTHONPATH=functions"
    )
    code = (
        "from cio_shared.producer import publish_track; "
        'print(publish_track({"id": "42"}, "signed_up", {"plan": "trial"}))'
    )
    return [
        "send a first event (from the repository root):",
        f"  {env} .venv/bin/python -c {shlex.quote(code)}",
        f"see it arrive:  curl -s {simulator}/_admin/state   (events); dead letters:",
        f"  PUBSUB_EMULATOR_HOST={pubsub} GOOGLE_CLOUD_PROJECT={PROJECT} "
        f".venv/bin/cio-doctor dlq list --prefix {contract.DEFAULT_PREFIX}-{ENVIRONMENT}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pubsub-port", type=int, default=8085)
    parser.add_argument("--firestore-port", type=int, default=8086)
    parser.add_argument("--simulator-port", type=int, default=8089)
    parser.add_argument("--handler-port", type=int, default=8080, help="the first handler's")
    parser.add_argument("--free-ports", action="store_true", help="pick free ports instead")
    parser.add_argument("--log-dir", type=Path, default=None, help="default: a new temp folder")
    args = parser.parse_args(argv)

    stopping: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="cio-local-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(log_dir)
    code = 0
    try:
        started = start(stack, args)
        if stopping:
            raise KeyboardInterrupt
        for line in started.lines + first_event(started.pubsub, started.simulator):
            print(line)
        print(
            f"{READY}: pubsub={started.pubsub} simulator={started.simulator} "
            "(Ctrl-C stops everything)",
            flush=True,
        )
        while not stopping:
            gone = stack.exited()
            if gone is not None:
                print(
                    f"{gone.name} exited with {gone.proc.returncode}; stopping everything "
                    f"(its log: {gone.log})\n{_tail(gone.log)}",
                    file=sys.stderr,
                )
                code = 1
                break
            time.sleep(0.2)
    except LocalRunError as exc:
        print(f"make local: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        stack.stop()
        print("stopped", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
