"""A gRPC server on 127.0.0.1 for the tests' local stand-ins of Google services."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc


@contextmanager
def serving(handler: grpc.GenericRpcHandler, workers: int = 4) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yields `127.0.0.1:<port>`, stops on exit."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
