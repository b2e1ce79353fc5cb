"""A requester's fee through the REST API, on the real PostgreSQL, redis and anvil: a fee of
2^256, 1e30, a negative one, one below the escrow's floor or one without its payer is a 422
problem and stores nothing; a fee within range is accepted awaiting its escrow, the reply says
where to pay it, and the task is dispatched once that payer's escrow holds it."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.app.escrow import FeeCheck, check_fee
from services.bootstrap import bootstrap
from services.settings import DEV_API_KEY, Settings
from services.sim.harness import ListQueue
from tests.contracts.market import MRT, operator, tx
from tests.integration.test_settlement import World, market_world  # noqa: F401 - the fixture

REQUESTER = operator(72)
AUTH = {"Authorization": f"Bearer {DEV_API_KEY}"}


@pytest.fixture
def api(market_world: World, postgres_url: str, redis_url: str, tmp_path):  # noqa: F811
    settings = Settings(env="test", data_dir=tmp_path, database_url=postgres_url, broker_url=redis_url)
    container = bootstrap(settings)
    container._chain = market_world.chain  # the test market's deployment, as the container's chain
    try:
        yield TestClient(create_app(container)), market_world
    finally:
        container.close()


def _post(client: TestClient, body: dict | str):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post("/v1/tasks", content=data, headers={**AUTH, "Content-Type": "application/json"})


@pytest.mark.parametrize(
    "raw, says",
    [
        ('{"prompt": "q", "fee_wei": %d, "payer": "%s"}' % (2**256, REQUESTER.address), "less than 2^256"),
        ('{"prompt": "q", "fee_wei": "%d", "payer": "%s"}' % (2**256, REQUESTER.address), "less than 2^256"),
        ('{"prompt": "q", "fee_wei": 1e30, "payer": "%s"}' % REQUESTER.address, "fee_wei"),
        ('{"prompt": "q", "fee_wei": -1, "payer": "%s"}' % REQUESTER.address, "greater than or equal to 0"),
        ('{"prompt": "q", "fee_wei": 1, "payer": "%s"}' % REQUESTER.address, "outside the escrow's range"),
        ('{"prompt": "q", "fee_wei": 1000000000000000000}', "needs its payer"),
        ('{"prompt": "q", "payer": "0x12"}', "payer"),
    ],
)
def test_a_fee_that_cannot_be_paid_is_a_422_and_stores_nothing(api, raw: str, says: str) -> None:
    client, w = api
    resp = _post(client, raw)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert says in problem["detail"] + " " + (problem.get("hint") or ""), problem
    assert w.store.tasks.list() == []


def test_a_fee_in_range_waits_for_its_payers_escrow_then_the_task_is_dispatched(api) -> None:
    client, w = api
    resp = _post(client, {"prompt": "What is 2+2?", "fee_wei": str(MRT), "payer": REQUESTER.address})
    assert resp.status_code == 202, resp.text
    accepted = resp.json()
    e = accepted["escrow"]
    assert accepted["status"] == "awaiting_fee" and accepted["fee_wei"] == str(MRT)
    assert e["address"] == w.session.escrow.address and e["amount_wei"] == str(MRT)
    assert e["payer"] == REQUESTER.address.lower() and e["chain_id"] == 31337 and e["pay_within_s"] > 0
    shown = client.get(f"/v1/tasks/{accepted['id']}", headers=AUTH).json()
    assert (shown["status"], shown["fee_state"], shown["payer"]) == ("awaiting_fee", "awaiting", e["payer"])

    w.contracts.faucet(REQUESTER, MRT, w.contracts.escrow.address)
    tx(w.session.w3, REQUESTER, w.contracts.escrow.functions.fund(bytes.fromhex(e["task_key"][2:]), MRT), "fund")
    queue = ListQueue()
    assert check_fee(w.store, queue, w.chain, accepted["id"], wait_s=600) is FeeCheck.HELD
    assert queue.queued == [accepted["id"]]
    shown = client.get(f"/v1/tasks/{accepted['id']}", headers=AUTH).json()
    assert (shown["status"], shown["fee_state"]) == ("queued", "held")


def test_a_task_without_a_fee_is_free_and_queued_at_once(api) -> None:
    client, w = api
    resp = _post(client, {"prompt": "What is 2+2?"})
    assert resp.status_code == 202 and resp.json()["escrow"] is None
    assert resp.json()["status"] == "queued" and w.store.tasks.list()[0].fee_state.value == "free"
