"""Stand-ins for the parts of a deployment that do not run locally, for test_smoke_check.

- `SubscriptionStandIn` plays the BigQuery subscription, which no emulator runs: it pulls the
  `cio-<env>-webhook-events-bq` subscription on the real Pub/Sub emulator and writes each
  message as the row a `use_table_schema` + `write_metadata` subscription would (into
  bqemulator; tabledata.insertAll takes JSON columns as JSON text, like tests/analytics), or,
  in `reject` mode, nacks every message so the emulator's own dead-letter policy moves it to
  the dead-letter topic with Pub/Sub's real `CloudPubSubDeadLetter*` attributes.
- `PubsubStateProxy`: the emulator stores a subscription's `bigquery_config` but never reports
  its `state` (always STATE_UNSPECIFIED), so the smoke check talks to this small gRPC proxy,
  which forwards every unary Pub/Sub call to the emulator unchanged and only sets
  `bigquery_config.state` in GetSubscription answers to the state a test chooses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from google.api_core.exceptions import DeadlineExceeded
from google.cloud import bigquery, pubsub_v1
from google.pubsub_v1.types import BigQueryConfig, Subscription

from tests.support import grpc_server
from tests.support.bigquery_subscription import SCHEMA, subscription_row

State = BigQueryConfig.State


def create_table(client: Any, table: str) -> None:
    """The stack's table, from the schema file, partitioned on `timestamp`."""
    dataset = table.rsplit(".", 1)[0]
    client.create_dataset(dataset, exists_ok=True)
    definition = bigquery.Table(
        table, schema=[bigquery.SchemaField.from_api_repr(field) for field in SCHEMA]
    )
    definition.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field="timestamp"
    )
    client.create_table(definition, exists_ok=True)


class SubscriptionStandIn:
    """Runs in a thread while a test's smoke check runs; `mode` is `write` or `reject`."""

    def __init__(self, subscription: str, table: str, bigquery_client: Any, mode: str) -> None:
        self.subscription, self.table, self.client, self.mode = (
            subscription,
            table,
            bigquery_client,
            mode,
        )
        self.handled: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SubscriptionStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        subscriber = pubsub_v1.SubscriberClient()
        while not self._stop.is_set():
            try:
                answer = subscriber.pull(subscription=self.subscription, max_messages=50, timeout=2)
            except DeadlineExceeded:  # no message within the pull's deadline
                continue
            ack_ids = [m.ack_id for m in answer.received_messages]
            if not ack_ids:
                continue
            self.handled += [
                m.message.attributes.get("event_id", "") for m in answer.received_messages
            ]
            if self.mode == "reject":
                subscriber.modify_ack_deadline(
                    subscription=self.subscription, ack_ids=ack_ids, ack_deadline_seconds=0
                )
                continue
            rows = [
                subscription_row(m.message, self.subscription) for m in answer.received_messages
            ]
            errors = self.client.insert_rows_json(self.table, rows)
            assert errors == [], errors
            subscriber.acknowledge(subscription=self.subscription, ack_ids=ack_ids)


class PubsubStateProxy:
    """Forwards unary Pub/Sub RPCs to the emulator; GetSubscription gets `states[name]`."""

    def __init__(self, upstream: str) -> None:
        self.states: dict[str, int] = {}
        self._channel = grpc.insecure_channel(upstream)

    def _handler(self, method: str) -> grpc.RpcMethodHandler:
        forward = self._channel.unary_unary(method)  # bytes in, bytes out

        def call(request: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                answer = forward(request, timeout=60)
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details() or "")
            if method.endswith("/GetSubscription"):
                subscription = Subscription.deserialize(answer)
                if subscription.name in self.states:
                    subscription.bigquery_config.state = self.states[subscription.name]
                answer = Subscription.serialize(subscription)
            return answer

        return grpc.unary_unary_rpc_method_handler(call)

    @contextmanager
    def serving(self) -> Iterator[str]:
        proxy = self

        class Generic(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
                return proxy._handler(details.method)

        try:
            with grpc_server.serving(Generic(), workers=8) as endpoint:
                yield endpoint
        finally:
            self._channel.close()


def write_root(root: Path, stack: dict[str, Any], env_text: str) -> Path:
    (root / "cdktf.out" / "stacks" / "dev").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "environments" / "dev.yaml").write_text(env_text)
    (root / "cdktf.out/stacks/dev/cdk.tf.json").write_text(json.dumps(stack))
    return root
