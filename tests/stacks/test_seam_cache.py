"""The seam's lazy provider import: same synthesized bytes as the eager import, fewer modules.

Each test runs fresh processes: the import mode is fixed once per process. Both modes
synthesize one frozen copy of the sources, so an edit to a handler between the two synths (a
shared working tree) cannot tell them apart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODE_ENV = "CIO_PROVIDER_IMPORT"

SYNTH = """
import sys
from pathlib import Path
from stacks.app import load_environments, synth
from stacks.platform import SourceTree
src, outdir = Path(sys.argv[1]), Path(sys.argv[2])
tree = SourceTree(src / "functions", src / "analytics", src / "build" / "handlers")
synth(load_environments(folder=src / "environments"), outdir, tree)
"""

# Runs in a child process: what the lazy import left loaded, and where jsii would look for a
# type from a submodule nobody imported (its FQN map, checked against the classes' own names).
PROBE = """
import json, sys
import stacks.cdk
provider = sys.modules["cdktf_cdktf_provider_google"]
fqn_map = sys.modules["jsii._reference_map"]._submodule_fqn_map
prefix = provider.__name__ + "."
loaded = sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix) and m.count(".") == 1)
sample = sorted(set(fqn_map.values()))[::97]
checked = {}
for fqn, module in fqn_map.items():
    if module in sample:
        name = module.rsplit(".", 1)[1]
        types = {getattr(v, "__jsii_type__", "") for v in vars(getattr(provider, name)).values()}
        checked[module] = any(t.startswith(fqn + ".") for t in types)
print(json.dumps({"loaded": loaded, "mapped": len(fqn_map), "checked": checked}))
"""


def run(cmd: list[str], mode: str | None) -> str:
    """stdout of a fresh process in the given import mode (None: the default, lazy)."""
    env = {k: v for k, v in os.environ.items() if k != MODE_ENV}
    env = {**env, MODE_ENV: mode} if mode else env
    done = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def synth(sources: Path, outdir: Path, mode: str | None) -> None:
    run([str(BIN / "python"), "-c", SYNTH, str(sources), str(outdir)], mode)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_lazy_and_eager_provider_imports_synthesize_identical_bytes(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    for name in ("functions", "analytics", "environments"):
        shutil.copytree(REPO / name, sources / name, ignore=shutil.ignore_patterns("__pycache__"))
    synth(sources, tmp_path / "lazy", None)
    synth(sources, tmp_path / "eager", "eager")
    lazy, eager = tree(tmp_path / "lazy"), tree(tmp_path / "eager")
    assert sorted(lazy) == sorted(eager)
    assert sum(name.endswith("cdk.tf.json") for name in lazy) >= 1
    assert [name for name in lazy if lazy[name] != eager[name]] == []


@pytest.mark.slow
def test_lazy_import_loads_only_what_the_seam_names_and_maps_the_rest() -> None:
    probe = json.loads(run([str(BIN / "python"), "-c", PROBE], None).splitlines()[-1])
    loaded = set(probe["loaded"])
    assert {"pubsub_topic", "cloudfunctions2_function", "provider"} <= loaded
    assert len(loaded) < 100  # of ~1,470: the eager import loads every one
    assert probe["mapped"] > 1000
    assert probe["checked"]
    assert all(probe["checked"].values()), probe["checked"]
