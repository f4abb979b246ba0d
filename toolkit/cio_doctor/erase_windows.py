"""What stays recoverable after an erasure, and for how long (the report's `residual_windows`).

- BigQuery keeps deleted rows for the dataset's time travel window (`max_time_travel_hours`, 48
  to 168, default 168), then 7 days of fail-safe that only Google support can restore
  (cloud.google.com/bigquery/docs/time-travel).
- Pub/Sub topics keep every published message for their retention (`pubsub.
  message_retention_days`), for seek; messages cannot be deleted one by one.
- Cloud Logging keeps the handlers' log lines (person hashes, never identifiers) for the log
  bucket's retention (`_Default`: 30 days); entries cannot be deleted one by one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cio_doctor import erase_bigquery as bq
from cio_doctor.config import EnvFile, environments_dir

FAIL_SAFE_DAYS = 7
DEFAULT_TIME_TRAVEL_HOURS = 168
DEFAULT_LOG_RETENTION_DAYS = 30


def raw_env(env: str) -> dict[str, Any]:
    """The environment file as YAML (fields the toolkit's EnvFile does not carry)."""
    import yaml

    path = Path(env) if env.endswith((".yaml", ".yml")) else environments_dir() / f"{env}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def setting(raw: dict[str, Any], section: str, key: str) -> Any:
    value = raw.get(section)
    return value.get(key) if isinstance(value, dict) else None


def residual_windows(client: Any, env: EnvFile, raw: dict[str, Any]) -> list[dict[str, Any]]:
    windows = []
    for table in bq.tables(env):
        dataset = table.table_id.rsplit(".", 1)[0]
        try:
            hours = client.get_dataset(dataset).max_time_travel_hours
        except Exception:  # a missing dataset holds nothing; its table step says so
            hours = None
        travel = int(hours) if hours else DEFAULT_TIME_TRAVEL_HOURS
        windows.append(
            {
                "copy": f"BigQuery {dataset}",
                "time_travel_hours": travel,
                "fail_safe_days": FAIL_SAFE_DAYS,
                "window": f"{travel} h of time travel, then {FAIL_SAFE_DAYS} days of fail-safe "
                "(Google support only)",
            }
        )
    retention = setting(raw, "pubsub", "message_retention_days")
    windows.append(
        {
            "copy": f"Pub/Sub topics {env.resource('*')}",
            "window": f"{retention} days of message retention (seek only)"
            if retention
            else "the topics' message retention (pubsub.message_retention_days; seek only)",
        }
    )
    windows.append(
        {
            "copy": "Cloud Logging (handlers' log lines, person hashes)",
            "window": f"the log bucket's retention (_Default: {DEFAULT_LOG_RETENTION_DAYS} days)",
        }
    )
    return windows
