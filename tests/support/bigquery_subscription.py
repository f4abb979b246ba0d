"""What a BigQuery subscription does with a message, for the tests that stand in for one.

No emulator runs BigQuery subscriptions: tests pull from the Pub/Sub emulator and write the
row a `use_table_schema` + `write_metadata` subscription would write into bqemulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCHEMA: list[dict[str, Any]] = json.loads(
    (REPO / "analytics" / "webhook_events.schema.json").read_text(encoding="utf-8")
)
METADATA = ("subscription_name", "message_id", "publish_time", "attributes")


def subscription_row(message: Any, subscription: str) -> dict[str, Any]:
    """The table's columns from the message body, plus the subscription's metadata columns."""
    columns = {field["name"]: field for field in SCHEMA}
    body = json.loads(message.data)
    row = {name: value for name, value in body.items() if name in columns and name not in METADATA}
    row["subscription_name"] = subscription
    row["message_id"] = message.message_id
    row["publish_time"] = message.publish_time.isoformat()
    row["attributes"] = dict(message.attributes)
    # tabledata.insertAll (how rows get into the emulator) takes JSON columns as JSON text.
    for name, field in columns.items():
        if field["type"] == "JSON" and row.get(name) is not None:
            row[name] = json.dumps(row[name])
    return row
