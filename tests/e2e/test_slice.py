"""The vertical slice through REST against a real Celery worker, redis, PostgreSQL and test nodes."""

from __future__ import annotations

import time

import httpx
import pytest

from services.settings import DEV_API_KEY

AUTH = {"Authorization": f"Bearer {DEV_API_KEY}"}


@pytest.fixture
def api(api_url, celery_worker, registered_nodes):
    with httpx.Client(base_url=api_url, headers=AUTH, timeout=10) as client:
        yield client


def wait_done(api, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.get(f"/v1/tasks/{task_id}").json()
        if task["status"] in ("done", "failed"):
            return task
        time.sleep(0.1)
    pytest.fail(f"task {task_id} did not finish: {task}")


def test_submitted_task_gets_a_ranked_answer(api, store):
    resp = api.post("/v1/tasks", json={"prompt": "What is 2+2?"})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert resp.headers["location"] == body["status_url"]
    task = wait_done(api, body["id"])
    assert task["status"] == "done", task
    assert task["answer"] == "The answer is 4."
    # the two exact nodes gave one answer: one candidate, two supporters, ranked first
    top = task["ranking"][0]
    assert {s["node_name"] for s in top["supporters"]} == {"test-node-1", "test-node-2"}
    assert [r["rank"] for r in task["ranking"]] == [1, 2, 3]
    assert len(task["answers"]) == 4 and len(task["judgments"]) >= 6
    assert all(a["node_kind"] == "test" for a in task["answers"])
    assert int(task["fee_wei"]) == store.tasks.get(body["id"]).fee_wei
    assert task["confidence"] == top["score"] > task["ranking"][1]["score"]
    assert task["separated"] is (task["confidence"] >= 0.95)
    assert task["credible_set"][0] == top["node_id"]
    # the explorer is public: it shows no task, neither its page nor its prompt
    assert api.get(f"/explorer/tasks/{body['id']}").status_code == 404
    assert body["id"][:8] not in api.get("/explorer").text


def test_a_multiple_choice_task_through_rest(api):
    resp = api.post("/v1/tasks", json={"prompt": "What is 6*7?", "options": ["41", "42", "43"]})
    assert resp.status_code == 202, resp.text
    task = wait_done(api, resp.json()["id"])
    assert task["status"] == "done", task
    assert task["options"] == ["41", "42", "43"] and task["answer"] == "B. 42"
    assert "A. 41\nB. 42\nC. 43" in task["prompt"]
    blank = api.post("/v1/tasks", json={"prompt": "x", "options": ["a", " "]})
    assert blank.status_code == 422 and "options" in blank.json()["detail"]


def test_unknown_task_is_404_problem(api):
    for task_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        resp = api.get(f"/v1/tasks/{task_id}")
        assert resp.status_code == 404
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["status"] == 404


def test_invalid_body_is_422_naming_the_field_and_stores_nothing(api, store):
    before = len(store.tasks.list())
    for body, field in (({"prompt": ""}, "prompt"), ({"prompt": "x", "swarm_size": 1}, "swarm_size"),
                        ({}, "prompt"), ({"prompt": "x", "fee_wei": -1}, "fee_wei"),
                        ({"prompt": "x", "options": ["only one"]}, "options")):
        resp = api.post("/v1/tasks", json=body)
        assert resp.status_code == 422
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert field in resp.json()["detail"]
    assert len(store.tasks.list()) == before


def test_missing_api_key_is_401(api_url):
    resp = httpx.post(api_url + "/v1/tasks", json={"prompt": "What is 2+2?"})
    assert resp.status_code == 401
    assert "MERIT_API_KEYS" in resp.json()["hint"]
