"""Every copy of the contract's names in the docs agrees with `cio_shared.contract`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cio_shared import contract

REPO = Path(__file__).resolve().parents[1]
DOCS_LISTING_INJECTED = [REPO / "docs" / "design.md", REPO / "functions" / "README.md"]


@pytest.mark.parametrize("doc", DOCS_LISTING_INJECTED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_injected_variable_is_documented(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = [v for v in contract.INJECTED_VARIABLES if f"`{v}`" not in text]
    assert not missing, f"{doc.name} does not mention {missing}"


def test_the_design_names_the_secrets_and_region_hosts() -> None:
    text = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    for secret in contract.SECRET_NAMES:
        assert f"`{secret}`" in text
    readme = (REPO / "functions" / "README.md").read_text(encoding="utf-8")
    for url in contract.TRACK_URLS.values():
        assert url in readme


def test_the_decisions_in_the_design_are_the_contracts() -> None:
    text = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    line = next(line for line in text.split("\n\n") if "`decision` (" in line)
    documented = re.findall(r"`([a-z_]+)`", line.split("`decision` (", 1)[1].split(")", 1)[0])
    assert tuple(documented) == contract.DECISIONS
