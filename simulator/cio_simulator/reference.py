"""Locate and load Customer.io's published OpenAPI documents (the contract we simulate).

The documents live beside the repository in `shared/reference/customerio/` (read-only), with
copies vendored in `reference/` as the fallback. The simulator reads them at start-up for
request schemas and webhook examples; set `CIO_SIM_REFERENCE_DIR` to point elsewhere.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

ENV_VAR = "CIO_SIM_REFERENCE_DIR"
VENDORED = Path(__file__).resolve().parent / "reference"  # copies, so a clone works alone
TRACK_API = "track-api.openapi.json"
REPORTING_WEBHOOKS = "reporting-webhooks.openapi.json"
PIPELINES_API = "pipelines-api.openapi.json"


def _candidates() -> list[Path]:
    """The folder named by CIO_SIM_REFERENCE_DIR alone when set, else the usual places."""
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    repo = Path(__file__).resolve().parents[2]
    return [
        repo.parent / "shared" / "reference" / "customerio",
        repo / "shared" / "reference" / "customerio",
        Path("/work/shared/reference/customerio"),
        VENDORED,
    ]


def reference_dir() -> Path:
    """The folder holding the OpenAPI documents; raises with the places searched."""
    for candidate in _candidates():
        if (candidate / TRACK_API).is_file():
            return candidate
    searched = ", ".join(str(c) for c in _candidates())
    raise FileNotFoundError(
        f"Customer.io reference documents ({TRACK_API}) not found; searched: {searched}. "
        f"Set {ENV_VAR} to the folder that holds them."
    )


@cache
def load_document(name: str) -> dict[str, Any]:
    """One OpenAPI document, parsed (cached: they are read-only)."""
    with open(reference_dir() / name, encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document
