"""App API reads shared by `user` and `campaign`: run several at once, fail clearly."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from cio_doctor.cio_http import Call, CioClient, explain_failure
from cio_doctor.findings import CannotCheck, Check, Severity

# Customer.io allows about 10 App API requests per second; a few parallel reads stay under it.
PARALLEL_READS = 4


def parallel(client: CioClient, reads: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Call]:
    """GET each (path, params) of `reads` concurrently; keyed like `reads`."""
    with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        futures = {
            name: pool.submit(client.get, path, params) for name, (path, params) in reads.items()
        }
        return {name: future.result() for name, future in futures.items()}


def stop_on_access_problem(call: Call, what: str) -> None:
    """Transport errors, 401/403 and 429 make the whole check impossible: say why."""
    if call.transport_error or call.status in (401, 403, 429) or (call.status or 0) >= 500:
        raise CannotCheck(explain_failure(call, what) + _advice(call))


def _advice(call: Call) -> str:
    if call.status == 429:
        retry = call.response_headers.get("Retry-After")
        return f"; retry in {retry} s" if retry else "; retry shortly"
    if call.status == 401:
        return "; check CIO_APP_API_KEY / the app-api-key secret and the region (us/eu)"
    return ""


def body_or_note(check: Check, call: Call, what: str, key: str) -> Any:
    """The `key` of a successful call's body; a failed optional read becomes a low finding."""
    stop_on_access_problem(call, what)
    if not call.ok:
        check.add(
            Severity.LOW, "lookup_failed", f"could not read {what}", explain_failure(call, what), ""
        )
        return None
    body = call.json()
    return body.get(key) if isinstance(body, dict) else None


def rows(
    items: Any, pick: Callable[[dict[str, Any]], dict[str, Any]], limit: int = 10
) -> list[dict[str, Any]]:
    return [pick(i) for i in (items or [])[:limit] if isinstance(i, dict)]


def when(timestamp: Any) -> str | None:
    """A Unix timestamp as ISO 8601 UTC (None for missing or zero)."""
    if not isinstance(timestamp, int | float) or not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def last_metric(metrics: dict[str, Any]) -> str | None:
    """The latest state a message reached (its metrics are name -> timestamp)."""
    dated = [(v, k) for k, v in metrics.items() if isinstance(v, int | float)]
    return max(dated)[1] if dated else None
