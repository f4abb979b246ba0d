"""Transactional sends through Customer.io's App API, each sent once.

    from cio_shared.transactional import build_handler
    _HANDLER = build_handler(handler="transactional", topic="transactional")

- `build_handler`, `TransactionalHandler`: one push delivery in, one decision out; the
  message's idempotency key is claimed in Firestore before the send and its `delivery_id`
  recorded after a 2xx (functions/transactional/README.md).
- `ClaimStore`, `Claim`, `ClaimKind`, `firestore_client`: the claims (also read by
  `cio-doctor transactional`).
- `AppClient`, `SendResult`: the thin App API client (`/v1/send/email|push|sms`).
- `Settings`, `SettingsError`: the handler's environment variables.

Imports `cio_shared.contract`, `cio_shared.common` and `cio_shared.messages`; nothing of
`cio_shared.delivery` (a change to the Track API hot path does not redeploy this handler).
"""

from cio_shared.transactional.app_client import AppClient, SendResult, TokenBucket
from cio_shared.transactional.claims import Claim, ClaimKind, ClaimStore, firestore_client
from cio_shared.transactional.handler import Outcome, TransactionalHandler, build_handler
from cio_shared.transactional.settings import Settings, SettingsError

__all__ = [
    "AppClient",
    "Claim",
    "ClaimKind",
    "ClaimStore",
    "Outcome",
    "SendResult",
    "Settings",
    "SettingsError",
    "TokenBucket",
    "TransactionalHandler",
    "build_handler",
    "firestore_client",
]
