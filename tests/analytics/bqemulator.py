"""Run the `bqemulator` BigQuery emulator (DuckDB and SQLGlot underneath) as a local process.

It loads DuckDB's spatial extension at start and would download it; offline, the extension
comes from the `duckdb-extension-spatial` wheel, installed into a private HOME so nothing is
written to the user's ~/.duckdb. Its avro extension is optional and stays absent (it logs a
warning). Clients reach it with AnonymousCredentials and an api_endpoint, through
cio_shared.common.bigquery_client with BIGQUERY_API_ENDPOINT set.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import requests

from tests.support.processes import free_port, running


def install_spatial_extension(home: Path) -> None:
    import duckdb_extension_spatial

    version = duckdb.__version__
    package = Path(next(iter(duckdb_extension_spatial.__path__)))
    extension = package / "extensions" / f"v{version}" / "spatial.duckdb_extension"
    if not extension.is_file():
        raise RuntimeError(f"{extension} missing: install duckdb-extension-spatial=={version}")
    directory = home / ".duckdb" / "extensions"
    with duckdb.connect(config={"extension_directory": str(directory)}) as connection:
        connection.execute(f"INSTALL '{extension}'")


@contextmanager
def bigquery_emulator(workdir: Path, project: str) -> Iterator[str]:
    """bqemulator on 127.0.0.1 until the block ends; yields its REST endpoint."""
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    install_spatial_extension(home)
    rest, grpc = free_port(), free_port()
    argv = [
        sys.executable, "-m", "bqemulator", "start",
        "--rest-host", "127.0.0.1", "--rest-port", str(rest),
        "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc),
        "--ephemeral", "--project", project, "--log-level", "warning", "--no-admin",
    ]  # fmt: skip
    env = {"HOME": str(home), "BQEMU_LOG_FORMAT": "json"}
    with running(argv, rest, env=env, log_path=workdir / "bqemulator.log", timeout=90):
        endpoint = f"http://127.0.0.1:{rest}"
        requests.get(f"{endpoint}/bigquery/v2/projects/{project}/datasets", timeout=10)
        yield endpoint
