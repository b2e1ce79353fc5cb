"""Closing an epoch over rounds run with real test nodes against the real store."""

from __future__ import annotations

import pytest

from services.app.bundles import load_bundle
from services.app.epochs import close_epoch
from services.content.local import LocalContentStore
from services.core.errors import Conflict
from services.core.types import EpochStatus
from tests.fixtures.fees import escrow_of
from tests.integration.test_rounds import new_task, run_round


def test_closing_pays_the_fees_out_exactly_and_moves_reputations(store, registered_nodes, gateway, tmp_path):
    content = LocalContentStore(tmp_path / "content")
    fees = []
    for prompt in ("What is 2+2?", "What is 3*7?", "What is 10-4?"):
        task = new_task(store, prompt=prompt)
        run_round(store, gateway, task.id)
        fees.append(task.fee_wei)
    closed = close_epoch(store, content, emission_wei=5, escrow=escrow_of(store))
    names = {n.id: n.name for n in registered_nodes}
    rewards = {names[n.node_id]: n.reward for n in closed.result.nodes}
    assert closed.tasks == 3 and closed.epoch.status is EpochStatus.CLOSED
    assert store.epochs.latest_clusters() == list(closed.result.clusters)  # kept for dispatch
    assert sum(rewards.values()) + closed.result.carried == sum(fees) + 5 == closed.epoch.pool_wei
    assert rewards["test-node-1"] == rewards["test-node-2"] > rewards["test-node-3"] > rewards["test-node-4"]

    after = {n.name: n.reputation_bp for n in store.nodes.list()}
    assert after["test-node-1"] > after["test-node-4"]  # judged quality moved them apart
    stored = store.epochs.nodes(closed.epoch.id)
    assert {r.node_id: r.reward_wei for r in stored} == {n.node_id: n.reward for n in closed.result.nodes}

    doc = load_bundle(content, closed.epoch.audit_cid)
    assert doc["epoch"] == closed.epoch.id and len(doc["tasks"]) == 3
    assert sum(int(n["reward_wei"]) for n in doc["nodes"]) == closed.epoch.pool_wei

    assert store.epochs.current().id == closed.epoch.id + 1  # the next epoch is open
    with pytest.raises(Conflict, match="no finished tasks"):
        close_epoch(store, content, escrow=escrow_of(store))


def test_failed_tasks_stay_out_of_the_epoch(store, registered_nodes, gateway, tmp_path):
    from services.app import rounds

    ok = new_task(store)
    run_round(store, gateway, ok.id)
    failed = new_task(store)
    rounds.fail(store, failed.id, "test")
    closed = close_epoch(store, LocalContentStore(tmp_path), escrow=escrow_of(store))
    assert closed.tasks == 1
    assert [t.id for t in store.tasks.list_for_epoch(closed.epoch.id)] == [ok.id]


def test_the_explorer_shows_a_closed_epoch(store, registered_nodes, gateway, tmp_path, postgres_url):
    from fastapi.testclient import TestClient

    from services.api.app import create_app
    from services.bootstrap import bootstrap
    from services.settings import Settings

    task = new_task(store)
    run_round(store, gateway, task.id)
    closed = close_epoch(store, LocalContentStore(tmp_path / "content"), escrow=escrow_of(store))
    container = bootstrap(Settings(env="test", data_dir=tmp_path, database_url=postgres_url))
    try:
        client = TestClient(create_app(container))
        page = client.get(f"/explorer/epochs/{closed.epoch.id}")
        assert page.status_code == 200
        assert closed.epoch.audit_cid in page.text and "test-node-1" in page.text
        assert f"/explorer/epochs/{closed.epoch.id}" in client.get("/explorer").text
        assert client.get("/explorer/epochs/999999").status_code == 404
    finally:
        container.close()


def test_an_audit_recomputes_the_epoch_and_names_what_was_changed(
    store, registered_nodes, gateway, tmp_path, postgres_url
):
    import psycopg

    from services.app.audit import audit_epoch

    content = LocalContentStore(tmp_path / "content")
    for prompt in ("What is 2+2?", "What is 6*7?"):
        run_round(store, gateway, new_task(store, prompt=prompt).id)
    closed = close_epoch(store, content, escrow=escrow_of(store))
    report = audit_epoch(store, content, closed.epoch.id)
    assert report.passed, report.differences
    assert len(report.checked) > 10

    node = closed.result.nodes[0].node_id
    with psycopg.connect(postgres_url) as conn:  # someone edits a reward behind the bundle's back
        conn.execute("UPDATE epoch_nodes SET reward_wei = reward_wei + 1 WHERE epoch_id = %s AND node_id = %s",
                     (closed.epoch.id, node))
    tampered = audit_epoch(store, content, closed.epoch.id)
    assert [d.what for d in tampered.differences] == ["database rewards match the bundle"]

    (tmp_path / "content" / closed.epoch.audit_cid).write_bytes(b"{}")  # and the bundle itself
    broken = audit_epoch(store, content, closed.epoch.id)
    assert not broken.passed and "unreadable" in broken.differences[0].found

