"""Stack-test fixtures; `synthesized` (one synth per session) lives in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stacks.template import Template


@pytest.fixture(scope="session")
def templates(synthesized: dict[str, Path]) -> dict[str, Template]:
    return {name: Template.from_file(path) for name, path in synthesized.items()}
