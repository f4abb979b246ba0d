"""The producer helper application teams call: validate, assign the event id, publish.

    from cio_shared.producer import publish_identify, publish_track

- `publish_track`, `publish_identify`, `publish`: validate against the v1 contract, assign the
  event id (fresh, or derived from an idempotency key), publish, wait for the ack.
- `ordering_key`, `ordering_key_of`: the per-person ordering key of identify-topic messages
  (`ordering_key_of` reads it from published bytes: what `cio-doctor dlq replay` re-uses).
- `prepare`, `resolve_topic`: the validation and topic resolution `publish` runs, without
  publishing.

See functions/README.md ("The producer helper"). Imports `cio_shared.common` and
`cio_shared.messages`; nothing of the handlers' delivery or webhook code.
"""

from cio_shared.producer.publishing import (
    ORDERED_TOPICS,
    ORDERING_KEY_HEX_CHARS,
    PUBLISH_TIMEOUT_SECONDS,
    TOPIC_ENV,
    PersonLike,
    ordering_key,
    ordering_key_of,
    prepare,
    publish,
    publish_identify,
    publish_track,
    resolve_topic,
)

__all__ = [
    "ORDERED_TOPICS",
    "ORDERING_KEY_HEX_CHARS",
    "PUBLISH_TIMEOUT_SECONDS",
    "TOPIC_ENV",
    "PersonLike",
    "ordering_key",
    "ordering_key_of",
    "prepare",
    "publish",
    "publish_identify",
    "publish_track",
    "resolve_topic",
]
