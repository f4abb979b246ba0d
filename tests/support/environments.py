"""The repository's environments, as tests should see them: whatever `environments/*.yaml`
holds, so adding a file never means editing a test's list of names."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from stacks.config import Environment, environment_files, load_environments

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = REPO / "environments"


def environment_names() -> list[str]:
    """The stems of environments/*.yaml, sorted (what `synth --all` builds)."""
    return [path.stem for path in environment_files(ENVIRONMENTS)]


def environments() -> dict[str, Environment]:
    """Every repository environment, validated, by name."""
    return {env.name: env for env in load_environments()}


def copy_environments(folder: Path, **extra: dict[str, Any]) -> Path:
    """`folder` holding copies of the repository's environment files plus one file per
    keyword argument (name -> its raw YAML content)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in environment_files(ENVIRONMENTS):
        shutil.copyfile(path, folder / path.name)
    for name, data in extra.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder


def raw_environment(name: str) -> dict[str, Any]:
    """The YAML content of environments/<name>.yaml, as a dict to copy and change."""
    data = yaml.safe_load((ENVIRONMENTS / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
