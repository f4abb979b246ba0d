"""Property: whatever order timestamped identify updates arrive in (v1 `_timestamp` or v2
`timestamp`), each attribute ends with the value of its newest update (the later arrival wins
a tie)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from cio_simulator import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.simulator.conftest import SITE_ID, TRACK_KEY, make_config

pytestmark = pytest.mark.integration

UPDATES = st.lists(
    st.tuples(
        st.sampled_from(["plan", "seats", "city"]),
        st.integers(min_value=0, max_value=50),  # value
        st.integers(min_value=1_000, max_value=1_010),  # timestamp: collisions are likely
        st.booleans(),  # v2 instead of v1
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(make_config()).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(updates=UPDATES)
def test_newest_update_wins_in_any_arrival_order(sim: Simulator, updates: list) -> None:
    with requests.Session() as session:
        session.post(f"{sim.url}/_admin/reset", timeout=5)
        auth = (SITE_ID, TRACK_KEY)
        expected: dict[str, tuple[int, int]] = {}
        for name, value, timestamp, use_v2 in updates:
            if use_v2:
                operation = {
                    "type": "person",
                    "identifiers": {"id": "p"},
                    "action": "identify",
                    "timestamp": timestamp,
                    "attributes": {name: value},
                }
                response = session.post(
                    f"{sim.url}/api/v2/entity", json=operation, auth=auth, timeout=5
                )
            else:
                body = {name: value, "_timestamp": timestamp}
                response = session.put(
                    f"{sim.url}/api/v1/customers/p", json=body, auth=auth, timeout=5
                )
            assert response.status_code == 200
            if name not in expected or timestamp >= expected[name][1]:
                expected[name] = (value, timestamp)
        [person] = session.get(f"{sim.url}/_admin/state", timeout=5).json()["people"]
    assert person["attributes"] == {name: value for name, (value, _) in expected.items()}
    assert person["attribute_timestamps"] == {name: ts for name, (_, ts) in expected.items()}
