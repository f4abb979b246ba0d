"""What every part of the library shares: structured logs, environment reading, Google clients.

- `get_logger`, `StructuredLogger`: one JSON object per line on stdout, emails and secrets
  redacted (`redact`, `redact_email`, `REDACTED`), the trace from the request headers.
- `EnvReader`, `SettingsError`: configuration from environment variables, errors naming them.
- `google_clients`: the factory of Google clients (emulators and local servers honoured), its
  functions also exported here: `publisher`, `ordered_publisher`, `subscriber`,
  `bigquery_client`, `secret_manager_client`, `project_id`, `topic_path`.

Imports no other `cio_shared` subpackage.
"""

from cio_shared.common import google_clients
from cio_shared.common.env_reader import EnvReader, SettingsError
from cio_shared.common.google_clients import (
    bigquery_client,
    ordered_publisher,
    project_id,
    publisher,
    secret_manager_client,
    subscriber,
    topic_path,
)
from cio_shared.common.logs import (
    REDACTED,
    StructuredLogger,
    get_logger,
    redact,
    redact_email,
    trace_id_from_headers,
)

__all__ = [
    "REDACTED",
    "EnvReader",
    "SettingsError",
    "StructuredLogger",
    "bigquery_client",
    "get_logger",
    "google_clients",
    "ordered_publisher",
    "project_id",
    "publisher",
    "redact",
    "redact_email",
    "secret_manager_client",
    "subscriber",
    "topic_path",
    "trace_id_from_headers",
]
