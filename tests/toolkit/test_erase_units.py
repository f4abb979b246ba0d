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


def _context(**overrides: Any) -> Any:
    from datetime import timedelta

    from cio_doctor import erase

    fields: dict[str, Any] = {
        "env": ENV, "app": None, "bigquery": None, "subscriber": None, "audit": None,
        "mode": "suppress", "act": True, "settle": timedelta(0), "cio_wait": 0, "scan_wait": 0,
    }  # fmt: skip
    return erase.Context(**(fields | overrides))


def test_messages_that_vanish_between_the_two_scans_name_another_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cio_doctor import erase, erase_pubsub
    from cio_doctor.findings import Check

    sub = "projects/p/subscriptions/cio-dev-track-dead-letter"
    scans = iter(
        [
            erase_pubsub.Scan(sub, seen=5, matched=1, removed=1, others=4),
            erase_pubsub.Scan(sub, seen=2, matched=0, others=2),  # two of the four are gone
        ]
    )
    monkeypatch.setattr(erase_pubsub, "scan", lambda *args: next(scans))
    check = Check("request")
    row = erase._keeper(_context(), sub, {"h"}, [Subject("id", "1")], check)
    assert (row["removed"], row["remaining"], row["others_released"]) == (1, 0, 4)
    [finding] = check.findings
    assert finding.code == "other_consumer" and "2 message(s) vanished" in finding.title


def test_pending_parts_say_where_and_until_when() -> None:
    from datetime import UTC, datetime

    from cio_doctor import erase

    ledger = bq.TableResult(bq.tables(ENV)[1], before=2, remaining=2, pending="buffer")
    ledger.retry_after = "2026-11-30T12:00:00Z"
    state = {"customerio": {"verified_at": datetime.now(UTC).isoformat()}}
    places = [{"subscription": "cio-dev-webhook-quarantine", "remaining": 1}]
    pending = erase._pending(_context(), state, places, [ledger])
    assert pending == [
        "cio-dev-webhook-quarantine: 1 left",
        "bigquery.ledger: buffer (retry after 2026-11-30T12:00:00Z)",
    ]
    unverified = {"customerio": {"verified_at": None}}
    assert erase._pending(_context(act=False), unverified, [], [])[:2] == [
        "everything: dry run, nothing erased (run again with --yes)",
        "customerio: the profile is still found through the App API",
    ]
