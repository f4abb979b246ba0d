"""Google Cloud locations, checked offline against vendored lists (stacks/data/locations.json).

A wrong region or location would otherwise pass synth and fail only at apply. The lists cite
their sources; a location missing from them is an error with a "did you mean".
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "locations.json"


@cache
def _data() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(DATA.read_text(encoding="utf-8"))
    return loaded


def _list(key: str) -> frozenset[str]:
    value = _data()[key]
    assert isinstance(value, list)
    return frozenset(str(v) for v in value)


def function_regions() -> frozenset[str]:
    """Regions where Cloud Functions 2nd gen (Cloud Run functions) deploy."""
    return _list("cloud_functions_gen2")


def regions() -> frozenset[str]:
    """Regional locations of BigQuery, Secret Manager and Cloud KMS."""
    return function_regions() | _list("extra_regions")


def bigquery_multi_regions() -> dict[str, str]:
    """BigQuery multi-region -> the Cloud KMS location its CMEK key must be in."""
    value = _data()["bigquery_multi_regions"]
    assert isinstance(value, dict)
    return {str(k): str(v) for k, v in value.items()}


def bigquery_locations() -> frozenset[str]:
    return regions() | frozenset(bigquery_multi_regions())


def kms_locations() -> frozenset[str]:
    return regions() | _list("kms_multi_regions")


def kms_location_for_bigquery(location: str) -> str:
    """A dataset's key must match its location: `EU` -> `europe`, `US` -> `us`, else the region.

    https://cloud.google.com/bigquery/docs/customer-managed-encryption#supported_locations
    """
    return bigquery_multi_regions().get(location, location.lower())


def unknown_location(value: str, allowed: frozenset[str], what: str) -> str | None:
    """None when `value` is allowed, else a message with the closest known names."""
    if value in allowed:
        return None
    by_case = {a.lower(): a for a in allowed}
    close = [by_case[value.lower()]] if value.lower() in by_case else []
    close = close or difflib.get_close_matches(value, sorted(allowed), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{value!r} is not a known {what} (stacks/data/locations.json){hint}"
