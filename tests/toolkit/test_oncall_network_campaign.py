"""Issue 12, on-call fixes: `network` without `--env` is healthy when DNS, TCP and HTTP are
(the request budget is the environment's: without one the headroom is informational), and
`campaign` counts `delivery_errors[].count`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.toolkit.doctor import run
from tests.toolkit.local_servers import http_server
from tests.toolkit.simulator_fixture import Sim
from tests.toolkit.test_network import OPERATIONAL

pytestmark = pytest.mark.integration


def test_network_without_env_is_healthy_when_the_network_is() -> None:
    routes: dict[str, Callable] = {
        "/api/v1/accounts/region": lambda h: (200, {"region": "us"}),
        "/v1/info/ip_addresses": lambda h: (200, {"ip_addresses": []}),
    }
    with (
        http_server(routes) as (api, _),
        http_server({"/summary.json": lambda h: (200, OPERATIONAL)}) as (status, _),
    ):
        result = run(
            ["network", "--json", "--samples", "2", "--status-url", f"{status}/summary.json"],
            env={"CIO_TRACK_URL": api, "CIO_APP_URL": api},
        )
    assert result.code == 0, result.stdout + result.stderr
    assert result.json["status"] == "healthy"
    headroom = next(c for c in result.json["checks"] if c["name"] == "rate-limit headroom")
    assert headroom["error"] is None
    assert headroom["data"]["skipped"] == "no request budget: pass --budget or --env"
    assert [(f["code"], f["severity"]) for f in result.json["findings"]] == [
        ("headroom_not_checked", "info")
    ]


def test_campaign_counts_each_delivery_error(sim: Sim) -> None:
    sim.seed(
        {
            "campaigns": [
                {
                    "id": 7,
                    "name": "Welcome",
                    "state": "running",
                    "trigger": {"event_name": "signup"},
                    "actions": [
                        {
                            "id": 71,
                            "type": "email",
                            "name": "Welcome email",
                            "delivery_errors": [
                                {"reason": "Mailbox full", "count": 2},
                                {"reason": "Liquid error: undefined customer.plan"},
                            ],
                        }
                    ],
                    "metrics": {"sent": 120, "delivered": 118},
                }
            ]
        }
    )
    result = run(["campaign", "7", "--json"], env=sim.env())
    assert result.code == 1, result.stdout + result.stderr
    [action] = result.json["checks"][0]["data"]["actions"]
    assert action["delivery_errors"] == 3
    [finding] = [f for f in result.json["findings"] if f["code"] == "action_delivery_errors"]
    assert "3 delivery error(s)" in finding["title"]
    assert finding["detail"] == "Mailbox full x2; Liquid error: undefined customer.plan x1"
