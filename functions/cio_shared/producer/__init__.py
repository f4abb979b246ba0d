"""The producer helper application teams call: validate, assign the event id, publish.

    from cio_shared.producer import publish_identify, publish_track

- `publish_track`, `publish_identify`, `publish`: validate against the v1 contract, assign the
  event id (fresh, or derived from an idempotency key), publish, wait for the ack.
- `ordering_key`, `ordering_key_of`: the per-person ordering key of identify-topic messages
  (`ordering_key_of` reads it from published bytes: what `cio-doctor dlq replay` re-uses).
- `publish_transactional`, `prepare_transactional`: a transactional send (App API) on the
  transactional topic, with an optional idempotency key from the business event.
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
from cio_shared.producer.transactional import (
    TRANSACTIONAL_TOPIC_ENV,
    prepare_transactional,
    publish_transactional,
)

__all__ = [
    "ORDERED_TOPICS",
    "ORDERING_KEY_HEX_CHARS",
    "PUBLISH_TIMEOUT_SECONDS",
    "TOPIC_ENV",
    "TRANSACTIONAL_TOPIC_ENV",
    "PersonLike",
    "ordering_key",
    "ordering_key_of",
    "prepare",
    "prepare_transactional",
    "publish",
    "publish_identify",
    "publish_track",
    "publish_transactional",
    "resolve_topic",
]
