"""Shared library for the Customer.io handlers, split by job (docs/design.md, functions/README.md).

- `cio_shared.contract`: the dependency-free contract of names the stacks share (imports nothing).
- `cio_shared.common`: structured logs, environment reading, Google client factories.
- `cio_shared.messages`: the v1 message contract (models, event ids, the exported JSON Schema).
- `cio_shared.producer`: the producer helper application teams call to publish.
- `cio_shared.delivery`: the track and identify handlers' Pub/Sub push -> Track API path.
- `cio_shared.webhooks`: the reporting-webhook handler (signature, events, publish).

This package imports none of them, so a handler's zip carries only the subpackages its imports
reach (stacks/packaging.py). Imports no handler and nothing of the stacks.
"""
