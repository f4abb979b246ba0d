"""State locking of `make plan` / `make apply` (stacks.plan) as processes, on a fake
`terraform` that records its command lines, takes a lock file the way Terraform takes
`cio/<env>/default.tflock`, and records the signals it gets.

- PR, drift and promote plans (no `--apply`) run with `-lock=false`; the deployer's plan and
  apply take the lock with `-lock-timeout`.
- A cancelled job (SIGINT or SIGTERM to the wrapper, or to its whole process group, as the
  runner does) reaches Terraform exactly once; the wrapper waits until Terraform has released
  the lock and exited, then exits 128+signal.
- In GitHub Actions the plan text is kept in reports/, not printed to the public log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cicd.support import REPO

PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        {
            "address": "google_pubsub_topic.track",
            "mode": "managed",
            "type": "google_pubsub_topic",
            "change": {"actions": ["create"], "before": None, "after": {"name": "cio-dev-track"}},
        }
    ],
}

FAKE = """#!{python}
# A stand-in for terraform: records argv, takes the lock like Terraform does, and on SIGINT or
# SIGTERM records the signal, finishes cleaning up (slowly) and releases the lock.
import json, os, signal, sys, time
log, lock = os.environ["FAKE_TF_LOG"], os.environ["FAKE_TF_LOCK"]
args = sys.argv[1:]
command = next(a for a in args if not a.startswith("-"))
def record(**entry):
    with open(log, "a") as out:
        out.write(json.dumps(entry) + "\\n")
record(argv=args)
stopping = []
def stop(signum, frame):
    stopping.append(signum)
    record(signal=signal.Signals(signum).name, lock_held=os.path.exists(lock))
for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, stop)
if command in ("plan", "apply") and "-lock=false" not in args:
    with open(lock, "x") as held:
        held.write(str(os.getpid()))
    record(locked=command)
if os.environ.get("FAKE_TF_HOLD") == command:
    record(holding=command)
    while not stopping:
        time.sleep(0.05)
    time.sleep(1.0)  # Terraform stops its operations, then unlocks
    if os.path.exists(lock):
        os.remove(lock)
    record(released=command)
    sys.exit(1)
if command == "plan":
    print("Terraform will perform the following actions: SECRET-PLAN-TEXT")
if command == "show":
    print(json.dumps({plan}))
if os.path.exists(lock):
    os.remove(lock)
"""


@pytest.fixture
def ready(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A repository root with dev's environment file and synthesized stack, credentials, a
    reachable 'network', and the fake terraform."""
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "dev.yaml").write_text(
        (REPO / "environments" / "dev.yaml").read_text()
    )
    stack = tmp_path / "cdktf.out" / "stacks" / "dev"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text("{}")
    (tmp_path / "credentials.json").write_text("{}")
    fake = tmp_path / "terraform"
    fake.write_text(FAKE.replace("{python}", sys.executable).replace("{plan}", repr(PLAN)))
    fake.chmod(0o755)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "TERRAFORM": str(fake),
            "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "credentials.json"),
            "CIO_PLAN_NETWORK_PROBES": f"127.0.0.1:{server.getsockname()[1]}",
            "FAKE_TF_LOG": str(tmp_path / "terraform.log"),
            "FAKE_TF_LOCK": str(tmp_path / "default.tflock"),
        }


def calls(env: dict[str, str]) -> list[dict[str, Any]]:
    log = Path(env["FAKE_TF_LOG"])
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line) for line in lines]


def argv_of(env: dict[str, str], command: str) -> list[str]:
    return next(c["argv"] for c in calls(env) if command in c.get("argv", []))


def wrapper(root: Path, env: dict[str, str], *args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stacks.plan", "dev", "--root", str(root), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def fingerprint(root: Path) -> str:
    summary = json.loads((root / "reports" / "plan" / "dev" / "summary.json").read_text())
    return str(summary["fingerprint"])


def test_a_plan_takes_no_lock_and_an_apply_waits_for_it(
    tmp_path: Path, ready: dict[str, str]
) -> None:
    code, out, err = finish(wrapper(tmp_path, ready))
    assert code == 0, out + err
    plan = argv_of(ready, "plan")
    assert "-lock=false" in plan and not any(a.startswith("-lock-timeout") for a in plan)
    assert "-lockfile=readonly" in argv_of(ready, "init"), "init never rewrites provider sums"
    assert not any("locked" in c for c in calls(ready)), "a plan never takes the state lock"

    Path(ready["FAKE_TF_LOG"]).unlink()
    code, out, err = finish(wrapper(tmp_path, ready, "--apply", fingerprint(tmp_path)))
    assert code == 0, out + err
    plan, apply = argv_of(ready, "plan"), argv_of(ready, "apply")
    assert "-lock-timeout=10m" in plan and "-lock=false" not in plan
    assert "-lock-timeout=10m" in apply and "-lock=false" not in apply
    assert [c["locked"] for c in calls(ready) if "locked" in c] == ["plan", "apply"]


def test_plan_text_stays_out_of_the_github_log(tmp_path: Path, ready: dict[str, str]) -> None:
    code, out, err = finish(wrapper(tmp_path, {**ready, "GITHUB_ACTIONS": "true"}))
    assert code == 0, out + err
    assert "SECRET-PLAN-TEXT" not in out + err
    text = tmp_path / "reports" / "plan" / "dev" / "plan.txt"
    assert "SECRET-PLAN-TEXT" in text.read_text()
    assert text.stat().st_mode & 0o077 == 0
    assert "1 to add, 0 to change, 0 to destroy" in out, "the summary is still shown"
    code, out, _ = finish(wrapper(tmp_path, ready))
    assert code == 0 and "SECRET-PLAN-TEXT" in out, "locally the plan is printed"


def wait_for(env: dict[str, str], key: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(key in c for c in calls(env)):
        assert time.monotonic() < deadline, f"the fake terraform never reported {key!r}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("signum", "to_group", "step"),
    [
        pytest.param(signal.SIGINT, False, "plan", id="SIGINT-during-the-deployers-plan"),
        pytest.param(signal.SIGTERM, False, "apply", id="SIGTERM-during-apply"),
        pytest.param(signal.SIGINT, True, "apply", id="SIGINT-to-the-process-group"),
    ],
)
def test_a_cancelled_job_lets_terraform_release_the_lock(
    tmp_path: Path, ready: dict[str, str], signum: int, to_group: bool, step: str
) -> None:
    code, out, err = finish(wrapper(tmp_path, ready))
    assert code == 0, out + err
    reviewed = fingerprint(tmp_path)
    Path(ready["FAKE_TF_LOG"]).unlink()
    env = {**ready, "FAKE_TF_HOLD": step}
    process = wrapper(tmp_path, env, "--apply", reviewed, start_new_session=True)
    try:
        wait_for(env, "holding")
        assert Path(ready["FAKE_TF_LOCK"]).exists(), "the fake holds the lock"
        if to_group:
            os.killpg(process.pid, signum)  # the wrapper's whole group, as a runner may
        else:
            os.kill(process.pid, signum)
        code, _, err = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    # The wrapper exited only after terraform had released the lock and exited.
    assert not Path(ready["FAKE_TF_LOCK"]).exists(), "the state lock was left behind"
    seen = calls(env)
    name = signal.Signals(signum).name
    assert [c["signal"] for c in seen if "signal" in c] == [name], "exactly one signal"
    assert any(c.get("released") == step for c in seen)
    assert code == 128 + signum
    assert f"{name} received; passed to terraform" in err
    assert "the state lock, if it held one, was released" in err
    if step == "plan":
        assert not any("apply" in c.get("argv", []) for c in seen), "nothing applied"
