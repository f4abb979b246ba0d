"""The delivery ledger's bytes per delivery, against a webhook_events row in the same run.

Each row is the real handler's decision line (a DeliveryHandler run per decision) in Cloud
Logging's BigQuery export shape (tests/analytics/test_ledger_views.py). Sizes follow BigQuery's
data size rules (cloud.google.com/bigquery/pricing, "Data size calculation"): STRING 2 bytes +
UTF-8 length, FLOAT64/INT64/TIMESTAMP 8, BOOL 1, JSON its UTF-8 length, a RECORD the sum of its
fields. Legacy streaming inserts (how the log sink writes) are billed per row with a 1 KB
minimum, so the billed bytes are max(row, 1024).

    .venv/bin/python bench/bench_ledger.py
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from cio_shared.delivery import from_status, transport_error

from stacks.analytics import load_schema
from tests.analytics.test_ledger_views import (
    ANALYTICS,
    decision_line,
    exported,
    webhook_row,
)

STREAMING_MINIMUM = 1024
FIXED = {"FLOAT": 8, "FLOAT64": 8, "INTEGER": 8, "INT64": 8, "TIMESTAMP": 8, "BOOLEAN": 1}


def size(value: Any, field: dict[str, Any]) -> int:
    """BigQuery's logical bytes of one value of `field` (its JSON schema entry)."""
    if value is None:
        return 0
    kind = field["type"]
    if kind == "RECORD":
        return sum(size(value.get(f["name"]), f) for f in field["fields"])
    if kind == "STRING":
        return 2 + len(str(value).encode())
    if kind == "JSON":
        return len(value if isinstance(value, str) else json.dumps(value))
    return FIXED[kind]


def row_bytes(row: dict[str, Any], schema: list[dict[str, Any]]) -> int:
    return sum(size(row.get(f["name"]), f) for f in schema)


def main() -> None:
    ledger_schema = load_schema(ANALYTICS / "ledger", "run_googleapis_com_stdout")
    webhook_schema = load_schema(ANALYTICS, "webhook_events")
    now = datetime.now(UTC)
    person = ("email", "jane.doe@example.com")
    cases = {
        "delivered": from_status(200),
        "retry (429)": from_status(429),
        "retry (timeout)": transport_error("timeout", "read timed out after 10.0 s"),
        "dead_lettered (400)": from_status(400, "attributes: value is not a string"),
    }
    webhook = webhook_row(1, {"id": "42", "email": "jane.doe@example.com"}, "opened", "d-1", 0)
    baseline = row_bytes(webhook, webhook_schema)
    print(f"{'ledger row':22} {'bytes':>6} {'billed':>7} {'vs webhook row':>15}")
    for n, (label, outcome) in enumerate(cases.items()):
        line = decision_line(f"01BENCH{n:019d}", person, outcome, 1)
        row = exported(line, now, f"insert-{n:08d}")
        measured = row_bytes(row, ledger_schema)
        billed = max(measured, STREAMING_MINIMUM)
        print(f"{label:22} {measured:6d} {billed:7d} {measured / baseline:14.2f}x")
    print(f"{'webhook_events row':22} {baseline:6d} {'-':>7} {1:14.2f}x (baseline)")
    print("a delivery delivered on the first attempt writes one ledger row; each retry adds one")


if __name__ == "__main__":
    main()
