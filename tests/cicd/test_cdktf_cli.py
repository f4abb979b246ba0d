"""The pinned cdktf CLI as people run it: installed by `make cdktf-cli` (npm ci, node-pty built
for the venv's Node), `cdktf synth` through the real CLI into a temporary folder, and
`scripts/cdktf diff|deploy` naming what is missing without starting the CLI.

The install needs the npm registry (CI has it; `make test` installs it before pytest runs, so
here the make target is normally a no-op).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from stacks import cdktf_cli
from tests.cicd.support import PYTHON, REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WRAPPER = REPO / "scripts" / "cdktf"
BASH = shutil.which("bash") or "/bin/bash"
ENVIRONMENTS = sorted(p.stem for p in (REPO / "environments").glob("*.yaml"))


@pytest.fixture(scope="module")
def cdktf_cli_installed() -> None:
    """`make cdktf-cli`, the target the README names (idempotent: a stamp file)."""
    result = subprocess.run(
        # -o: never (re)install the shared venv from inside a test, whatever the timestamps.
        ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed", "cdktf-cli"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, f"make cdktf-cli failed:\n{result.stdout}\n{result.stderr}"
    assert cdktf_cli.PTY_BINARY.is_file(), "node-pty's native module was not built"
    assert cdktf_cli.installed_problem() is None


def wrapper(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(WRAPPER), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """No Terraform (an empty folder as PATH), no credentials (an empty HOME)."""
    (tmp_path / "empty-bin").mkdir()
    (tmp_path / "home").mkdir()
    return {"PATH": str(tmp_path / "empty-bin"), "HOME": str(tmp_path / "home")}


def test_environments_exist() -> None:
    assert ENVIRONMENTS, "environments/ has no environment file"


@pytest.mark.usefixtures("cdktf_cli_installed")
def test_cdktf_synth_through_the_cli_writes_every_environment(tmp_path: Path) -> None:
    app = json.loads((REPO / "cdktf.json").read_text(encoding="utf-8"))["app"]
    assert app.split()[0] == ".venv/bin/python", "the CLI runs the venv's python"
    outdir = tmp_path / "out"
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    result = wrapper("synth", "--output", str(outdir), env=env)
    assert result.returncode == 0, f"cdktf synth failed:\n{result.stdout}\n{result.stderr}"
    for name in ENVIRONMENTS:
        stack = outdir / "stacks" / name / "cdk.tf.json"
        assert stack.is_file(), f"cdktf synth wrote no {stack.relative_to(outdir)}"
        assert json.loads(stack.read_text(encoding="utf-8"))["resource"], name
    written = sorted(p.name for p in (outdir / "stacks").iterdir())
    assert written == ENVIRONMENTS


@pytest.mark.usefixtures("cdktf_cli_installed")
def test_the_cli_runs_with_checkpoint_disabled_and_the_venv_node(tmp_path: Path) -> None:
    """The app the CLI starts inherits the CLI's environment: it records it."""
    dump = tmp_path / "env.json"
    recorder = f"import json, os; json.dump(dict(os.environ), open({str(dump)!r}, 'w'))"
    app = f'{PYTHON} -c "{recorder}"'
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    wrapper("synth", "--app", app, "--output", str(tmp_path / "out"), env=env, timeout=120)
    seen = json.loads(dump.read_text(encoding="utf-8"))
    assert seen.get("CHECKPOINT_DISABLE") == "1"
    assert seen.get("DISABLE_VERSION_CHECK") == "1"
    assert seen["PATH"].split(os.pathsep)[0] == str(PYTHON.parent), "the venv's Node first"


@pytest.mark.parametrize("command", ["diff", "deploy"])
def test_diff_and_deploy_name_what_is_missing(command: str, bare_env: dict[str, str]) -> None:
    env_name = ENVIRONMENTS[0]
    result = wrapper(command, env_name, env=bare_env, timeout=60)
    assert result.returncode == 3
    message = result.stderr
    assert f"cannot run `cdktf {command}` for {env_name}; missing:" in message
    assert "Terraform binary not found on PATH" in message
    assert "Google Cloud credentials not found" in message
    assert "gcloud auth application-default login" in message
    assert "network" not in message, "no network probe while other things are missing"
    assert "Traceback" not in message
    assert result.stdout == "", "the CLI was not started"


def test_an_unknown_environment_lists_the_known_ones(bare_env: dict[str, str]) -> None:
    result = wrapper("deploy", "no-such-env", "--auto-approve", env=bare_env, timeout=60)
    assert result.returncode == 3
    known = ", ".join(ENVIRONMENTS)
    assert (
        f"environment file environments/no-such-env.yaml not found (known environments: {known})"
        in result.stderr
    )


def test_an_unreachable_network_is_explained(tmp_path: Path, bare_env: dict[str, str]) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text("{}")
    terraform = tmp_path / "terraform"  # never run: the network check fails first
    terraform.write_text("")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        env = {
            **bare_env,
            "TERRAFORM": str(terraform),
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
            "CIO_PLAN_NETWORK_PROBES": f"127.0.0.1:{port}",
        }
        result = wrapper("diff", ENVIRONMENTS[0], env=env, timeout=60)
    assert result.returncode == 3
    assert f"network: cannot reach 127.0.0.1:{port} (ConnectionRefusedError" in result.stderr
    assert "Terraform binary" not in result.stderr


def test_the_build_names_the_debian_packages_it_needs(tmp_path: Path) -> None:
    problems = cdktf_cli.build_problems({"PATH": str(tmp_path)})
    assert any("install the Debian package `g++`" in p for p in problems), problems
    assert any("install the Debian package `make`" in p for p in problems), problems


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["diff", "dev"], ("diff", ["dev"])),
        (["deploy", "--var-file", "x.tfvars", "dev", "--auto-approve"], ("deploy", ["dev"])),
        (["--no-color", "deploy", "-o", "out", "staging", "prod"], ("deploy", ["staging", "prod"])),
        (["synth"], ("synth", [])),
        ([], (None, [])),
    ],
)
def test_command_and_stacks(args: list[str], expected: tuple[str | None, list[str]]) -> None:
    assert cdktf_cli.command_and_stacks(args) == expected


def test_plan_files_given_with_chdir_are_absolute() -> None:
    """`terraform -chdir=DIR apply x.tfplan` looks for x.tfplan inside DIR."""
    documents = [REPO / "README.md", *REPO.glob("*/README.md"), *REPO.glob("docs/*.md")]
    documents += [*REPO.glob(".github/**/*.yml"), *REPO.glob(".github/**/*.yaml")]
    relative = [
        f"{path.relative_to(REPO)}:{number}: {token}"
        for path in documents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "-chdir=" in line
        for token in line.replace("`", " ").split()
        if token.strip("\"'").endswith((".tfplan", ".tfvars", ".json"))
        and not token.strip("\"'").startswith(("/", "$"))
    ]
    assert not relative, f"relative paths next to -chdir (use an absolute path): {relative}"
