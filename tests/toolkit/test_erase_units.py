"""Issue 14, the parts of `cio-doctor erase` that need no server: who a request is for, which
payloads name the person, and a DELETE refused by BigQuery's streaming buffer staying pending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cio_doctor import erase_bigquery as bq
from cio_doctor.config import EnvFile
from cio_doctor.erase_request import Subject, payload_hashes, subjects
from cio_doctor.findings import CannotCheck
from cio_shared.contract import person_hash
from google.api_core import exceptions

ENV = EnvFile(name="dev", project_id="p")
BUFFER_ERROR = (
    "UPDATE or DELETE statement over table p.cio_dev_ledger.run_googleapis_com_stdout would "
    "affect rows in the streaming buffer, which is not supported"
)


def test_identifiers_parse_and_hash_like_the_ledger(tmp_path: Path) -> None:
    assert Subject.parse("42") == Subject("id", "42")
    assert Subject.parse("Jane@Example.com") == Subject("email", "Jane@Example.com")
    assert Subject.parse("cio_id:abc") == Subject("cio_id", "abc")
    assert Subject.parse("email:Jane@Example.com").hash == person_hash("email", "jane@example.com")
    assert Subject.parse("a@b.c").request_id == Subject.parse("A@B.C").request_id
    assert Subject.parse("jane@example.com").shown() == "email:j***@example.com"
    ids = tmp_path / "ids.csv"
    ids.write_text("person\n42,ticket-1\n# a comment\n\nemail:a@b.c\n42\n")
    assert subjects(None, ids) == [Subject("id", "42"), Subject("email", "a@b.c")]
    with pytest.raises(CannotCheck):
        subjects(None, None)


def test_payload_hashes_find_the_person_wherever_a_copy_names_them() -> None:
    message = b'{"action":"merge","person":{"id":"1"},"secondary":{"email":"X@y.z"}}'
    assert payload_hashes(message) == {person_hash("id", "1"), person_hash("email", "x@y.z")}
    webhook = (
        b'{"event_id":"e","data":{"customer_id":"7","recipient":"r@y.z",'
        b'"identifiers":{"cio_id":"c"}}}'
    )
    assert payload_hashes(webhook) == {
        person_hash("id", "7"),
        person_hash("email", "r@y.z"),
        person_hash("cio_id", "c"),
    }
    assert payload_hashes(b"not json") == set()
    assert payload_hashes(b'{"event_id":"e","data":{"recipient":"+15550100"}}') == set()


class _Job:
    def __init__(self, rows: list[dict[str, Any]], affected: int = 0) -> None:
        self.rows, self.num_dml_affected_rows = rows, affected

    def result(self, timeout: float) -> list[dict[str, Any]]:
        return self.rows


class _Ledger:
    """The ledger as BigQuery treats fresh log-sink rows: visible to SELECT, not to DELETE."""

    def __init__(self, rows: int, buffered: bool) -> None:
        self.rows, self.buffered = rows, buffered

    def get_table(self, table_id: str) -> None:
        return None

    def query(self, sql: str, job_config: Any) -> _Job:
        if sql.startswith("DELETE"):
            if self.buffered:
                raise exceptions.BadRequest(BUFFER_ERROR)
            deleted, self.rows = self.rows, 0
            return _Job([], deleted)
        return _Job([{"n": self.rows}])


def test_rows_in_the_streaming_buffer_stay_pending_until_a_later_run() -> None:
    ledger = next(t for t in bq.tables(ENV) if t.name == "bigquery.ledger")
    assert ledger.table_id == "p.cio_dev_ledger.run_googleapis_com_stdout"
    client = _Ledger(rows=2, buffered=True)
    first = bq.erase_table(client, ledger, {"h"}, act=True)
    assert (first.before, first.deleted, first.remaining) == (2, 0, 2)
    assert first.pending and "streaming buffer" in first.pending and first.retry_after
    client.buffered = False  # a later run, once the rows left the buffer
    later = bq.erase_table(client, ledger, {"h"}, act=True)
    assert (later.deleted, later.remaining, later.pending) == (2, 0, None)
    assert bq.erase_table(client, ledger, {"h"}, act=False).to_dict()["found"] == 0


def test_other_dml_errors_are_not_mistaken_for_the_buffer() -> None:
    class Broken(_Ledger):
        def query(self, sql: str, job_config: Any) -> _Job:
            if sql.startswith("DELETE"):
                raise exceptions.Forbidden("no bigquery.tables.updateData")
            return super().query(sql, job_config)

    with pytest.raises(CannotCheck, match="updateData"):
        bq.erase_table(Broken(1, False), bq.tables(ENV)[0], {"h"}, act=True)
