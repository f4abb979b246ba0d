"""Handler zips carry only the parts of cio_shared their imports reach, and still import.

A webhook-only change must not redeploy track or identify (their object names are content
hashes), and every zip must import on its own: unzipped into an empty folder, `import main`
in a fresh interpreter that sees only that folder and the installed dependencies.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml
from cio_shared import contract

from stacks.packaging import HandlerPackage, PackagingError, build_package, shared_imports

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
HANDLERS = sorted(p.parent.name for p in FUNCTIONS.glob("*/handler.yaml"))


def copy_functions(target: Path) -> Path:
    """The handler folders and cio_shared, without caches, in a folder the test may change."""
    shutil.copytree(FUNCTIONS, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def build_all(functions: Path, out: Path) -> dict[str, HandlerPackage]:
    return {
        name: build_package(functions / name, functions / "cio_shared", out) for name in HANDLERS
    }


def names(package: HandlerPackage) -> list[str]:
    return zipfile.ZipFile(package.path).namelist()


def test_each_zip_carries_only_its_part_of_the_library(tmp_path: Path) -> None:
    packages = build_all(FUNCTIONS, tmp_path)
    webhook, track, identify = packages["webhook"], packages["track"], packages["identify"]

    assert not [n for n in names(webhook) if n.startswith("cio_shared/delivery/")]
    assert not [n for n in names(webhook) if n.startswith("cio_shared/messages/")]
    assert "cio_shared/webhooks/handler.py" in names(webhook)
    for package in (track, identify):
        assert not [n for n in names(package) if n.startswith("cio_shared/webhooks/")]
        assert {"cio_shared/delivery/handler.py", "cio_shared/contract.py"} <= set(names(package))
        assert "cio_shared/messages/schemas/event-v1.schema.json" in names(package)
    for package in packages.values():
        assert "cio_shared/__init__.py" in names(package)
        assert "cio_shared/common/__init__.py" in names(package)
        assert not [n for n in names(package) if n.startswith("cio_shared/producer/")]
    assert webhook.shared_parts == ("common", "webhooks")
    assert track.shared_parts == ("common", "contract", "delivery", "messages")


def touch(path: Path) -> None:
    path.write_text(path.read_text() + "\n# changed\n")


@pytest.mark.parametrize(
    ("changed", "redeployed"),
    [
        ("webhooks/events.py", {"webhook"}),
        ("webhooks/signature.py", {"webhook"}),
        ("delivery/senders.py", {"track", "identify"}),
        ("messages/models.py", {"track", "identify", "transactional"}),
        ("producer/publishing.py", set()),
        ("common/logs.py", {"track", "identify", "webhook", "transactional"}),
        ("transactional/claims.py", {"transactional"}),
    ],
)
def test_a_change_redeploys_only_the_handlers_that_import_it(
    tmp_path: Path, changed: str, redeployed: set[str]
) -> None:
    functions = copy_functions(tmp_path / "functions")
    before = build_all(functions, tmp_path / "before")
    touch(functions / "cio_shared" / changed)
    after = build_all(functions, tmp_path / "after")
    assert {
        name for name in HANDLERS if before[name].object_name != after[name].object_name
    } == redeployed


def test_zips_are_reproducible(tmp_path: Path) -> None:
    first = build_all(FUNCTIONS, tmp_path / "a")
    second = build_all(FUNCTIONS, tmp_path / "b")
    for name in HANDLERS:
        assert first[name].path.read_bytes() == second[name].path.read_bytes()


def handler_environment(name: str) -> dict[str, str]:
    """What the stack would give the handler: its manifest's variables plus the injected ones."""
    manifest = yaml.safe_load((FUNCTIONS / name / "handler.yaml").read_text())
    project, environment = "test-project", "test"

    def topic(purpose: str) -> str:
        return contract.topic_path(project, contract.resource_name("cio", environment, purpose))

    env = {
        contract.ENVIRONMENT: environment,
        contract.REGION: "us",
        contract.PROJECT: project,
        contract.RATE_LIMIT: "0",
        contract.CALL_TIMEOUT: "5",
        contract.BATCH_MAX_WAIT: "25",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",  # no credentials needed; nothing is sent
    }
    env.update({var: "test-secret" for var in manifest.get("secrets") or {}})
    env.update({var: topic(purpose) for var, purpose in (manifest.get("publishes") or {}).items()})
    env.update({var: str(value) for var, value in (manifest.get("env") or {}).items()})
    if manifest.get("topic"):
        env[contract.SOURCE_TOPIC] = topic(manifest["topic"])
        env[contract.DEAD_LETTER_TOPIC] = topic(contract.dead_letter_of(manifest["topic"]))
        env[contract.TOPIC_ACTIONS] = ",".join(manifest.get("carries") or [])
    return env


IMPORT_MAIN = """
import sys
folder = sys.argv[1]
sys.path[:0] = [folder, *sys.argv[2:]]
import main
import cio_shared
assert cio_shared.__file__.startswith(folder), cio_shared.__file__
loaded = sorted(m for m in sys.modules if m.startswith("cio_shared"))
files = {m: getattr(sys.modules[m], "__file__", None) or folder for m in loaded}
outside = [m for m, file in files.items() if not file.startswith(folder)]
assert not outside, outside
print(" ".join(loaded))
"""


@pytest.mark.parametrize("name", HANDLERS)
def test_a_zip_imports_on_its_own(tmp_path: Path, name: str) -> None:
    package = build_package(FUNCTIONS / name, FUNCTIONS / "cio_shared", tmp_path / "zip")
    folder = tmp_path / "unzipped"
    zipfile.ZipFile(package.path).extractall(folder)
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    # -I: no PYTHONPATH, no current folder; -S: no site, so none of the .pth files (the editable
    # install among them maps cio_shared to functions/cio_shared); the dependencies come from
    # the venv's site-packages only.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", IMPORT_MAIN, str(folder), *site],
        env=handler_environment(name),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "cio_shared" in loaded
    if name == "webhook":
        assert not {m for m in loaded if m.startswith("cio_shared.delivery")}
    else:
        assert not {m for m in loaded if m.startswith("cio_shared.webhooks")}


def test_an_import_of_a_missing_module_fails_the_package(tmp_path: Path) -> None:
    functions = copy_functions(tmp_path / "functions")
    main = functions / "track" / "main.py"
    main.write_text(main.read_text() + "\nfrom cio_shared.nowhere import thing\n")
    with pytest.raises(PackagingError, match="nowhere"):
        build_package(functions / "track", functions / "cio_shared", tmp_path / "out")


def test_relative_imports_inside_the_library_are_followed(tmp_path: Path) -> None:
    module = tmp_path / "cio_shared" / "delivery" / "handler.py"
    module.parent.mkdir(parents=True)
    module.write_text("from . import senders\nfrom ..common import logs\nfrom .. import contract\n")
    assert shared_imports(module, "cio_shared.delivery.handler") == {
        "cio_shared",
        "cio_shared.contract",
        "cio_shared.delivery",
        "cio_shared.delivery.senders",
        "cio_shared.common",
        "cio_shared.common.logs",
    }
