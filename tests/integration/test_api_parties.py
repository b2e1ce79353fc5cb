"""Each party reads only its own, through the FastAPI app on the real PostgreSQL and redis.

Requester B cannot read A's task (404 like an id that does not exist); nobody reads a hidden gold
task; the explorer shows no task; a body over the cap is a 413 before it is parsed; options that
push the prompt over its limit are a 422; a burst past a key's bucket is a 429 with Retry-After,
shared by every API process; the OpenAPI document declares the bearer scheme.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.app import tasks
from services.app.gold import mix_in_gold
from services.bootstrap import Container, bootstrap
from services.core.errors import NotFound
from services.core.types import TaskId
from services.settings import Settings
from services.sim.harness import ListQueue


class Keys:
    def __init__(self) -> None:  # fresh keys per test: buckets in the shared redis start full
        self.a, self.b = f"key-a-{uuid.uuid4().hex}", f"key-b-{uuid.uuid4().hex}"

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def make_api(postgres_url: str, redis_url: str, store, tmp_path, keys: Keys) -> Iterator:
    containers: list[Container] = []

    def make(**settings: object) -> tuple[TestClient, Container]:
        container = bootstrap(Settings(env="test", data_dir=tmp_path, database_url=postgres_url,
                                       broker_url=redis_url, api_keys=[keys.a, keys.b], **settings))  # fmt: skip
        containers.append(container)
        return TestClient(create_app(container)), container

    yield make
    for c in containers:
        c.close()


def submit(client: TestClient, key: str, prompt: str = "What is 2+2?") -> str:
    resp = client.post("/v1/tasks", json={"prompt": prompt}, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def test_requester_b_cannot_read_the_task_of_requester_a(make_api, keys: Keys) -> None:
    client, _ = make_api()
    task_id = submit(client, keys.a, "A's private question")
    mine = client.get(f"/v1/tasks/{task_id}", headers=keys.auth(keys.a))
    assert mine.status_code == 200 and mine.json()["prompt"] == "A's private question"

    theirs = client.get(f"/v1/tasks/{task_id}", headers=keys.auth(keys.b))
    missing_id = str(uuid.uuid4())
    missing = client.get(f"/v1/tasks/{missing_id}", headers=keys.auth(keys.b))
    assert theirs.status_code == missing.status_code == 404  # not 403: ids cannot be probed
    assert theirs.headers["content-type"].startswith("application/problem+json")
    assert theirs.json()["detail"].replace(task_id, "ID") == missing.json()["detail"].replace(missing_id, "ID")
    assert "private question" not in theirs.text

    assert client.get(f"/v1/tasks/{task_id}").status_code == 401
    assert client.get(f"/v1/tasks/{task_id}", headers=keys.auth("not-a-key")).status_code == 401


def test_a_gold_task_is_readable_by_no_requester(make_api, keys: Keys, store) -> None:
    client, c = make_api()
    beside = submit(client, keys.a)
    gold = mix_in_gold(store, ListQueue(), store.tasks.get(TaskId(beside)), c.bank)
    assert gold is not None and store.gold.of(gold.id) is not None
    for key in (keys.a, keys.b):
        resp = client.get(f"/v1/tasks/{gold.id}", headers=keys.auth(key))
        assert resp.status_code == 404 and gold.prompt[:40] not in resp.text
    with pytest.raises(NotFound):  # not even under the marketplace's own gold identity
        tasks.view_own_task(store, gold.id, c.bank.requester)


def test_the_explorer_shows_no_task(make_api, keys: Keys) -> None:
    client, _ = make_api()
    task_id = submit(client, keys.a, "a prompt nobody else may see")
    page = client.get("/explorer")
    assert page.status_code == 200 and "nobody else may see" not in page.text and task_id[:8] not in page.text
    assert client.get(f"/explorer/tasks/{task_id}").status_code == 404


def test_a_body_over_the_cap_is_413_and_stores_nothing(make_api, keys: Keys, store) -> None:
    client, _ = make_api()
    big = json.dumps({"prompt": "x" * (300 * 1024)})
    resp = client.post("/v1/tasks", content=big, headers={**keys.auth(keys.a), "Content-Type": "application/json"})
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"].endswith("/too-large") and "262144" in resp.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: read only up to the cap
        yield b'{"prompt": "'
        for _ in range(100):
            yield b"x" * 65536
        yield b'"}'

    resp = client.post("/v1/tasks", content=chunks(), headers={**keys.auth(keys.a), "Content-Type": "application/json"})
    assert resp.status_code == 413 and "more than 262144 bytes" in resp.json()["detail"]
    ten_mb = {"prompt": "Which?", "options": ["o" * 1_000_000] * 10}  # ten 1 MB options
    assert client.post("/v1/tasks", json=ten_mb, headers=keys.auth(keys.a)).status_code == 413
    assert store.tasks.list() == []


def test_options_that_push_the_prompt_over_its_limit_are_422(make_api, keys: Keys, store) -> None:
    client, _ = make_api()
    body = {"prompt": "Which one?", "options": [chr(65 + i) * 2_000 for i in range(10)]}  # 20 KB: under the cap
    resp = client.post("/v1/tasks", json=body, headers=keys.auth(keys.a))
    assert resp.status_code == 422, resp.text
    assert "with its options joined in" in resp.json()["detail"] and "16000" in resp.json()["detail"]
    assert store.tasks.list() == []
    small = {"prompt": "Which one?", "options": ["x" * 1_000] * 10}
    assert client.post("/v1/tasks", json=small, headers=keys.auth(keys.a)).status_code == 202


def test_a_burst_past_a_keys_bucket_is_429_with_retry_after_across_processes(make_api, keys: Keys) -> None:
    first, _ = make_api(rate_limit_per_s=0.5, rate_limit_burst=5)
    second, _ = make_api(rate_limit_per_s=0.5, rate_limit_burst=5)  # another API process, same redis
    missing = f"/v1/tasks/{uuid.uuid4()}"
    codes = [first.get(missing, headers=keys.auth(keys.a)).status_code for _ in range(3)]
    codes += [second.get(missing, headers=keys.auth(keys.a)).status_code for _ in range(2)]
    assert codes == [404] * 5
    limited = second.get(missing, headers=keys.auth(keys.a))
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(limited.headers["retry-after"]) <= 2 and limited.json()["type"].endswith("/rate-limited")
    resp = first.post("/v1/tasks", json={"prompt": "q"}, headers=keys.auth(keys.a))
    assert resp.status_code == 429  # submits share the key's bucket
    assert first.get(missing, headers=keys.auth(keys.b)).status_code == 404  # B has a bucket of its own


def test_openapi_declares_the_bearer_scheme(make_api) -> None:
    client, _ = make_api()
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "API key",
        "description": "An API key listed in MERIT_API_KEYS: `Authorization: Bearer <key>`",
    }  # fmt: skip
    for method, path in (("post", "/v1/tasks"), ("get", "/v1/tasks/{task_id}")):
        assert doc["paths"][path][method]["security"] == [{"bearer": []}], path
    assert "security" not in doc["paths"]["/v1/nodes"]["get"]


def test_with_redis_unreachable_each_process_keeps_the_limit_itself() -> None:
    from services.broker.ratelimit import RateLimiter
    from services.ports_free import free_port

    limiter = RateLimiter(0.5, 2, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        assert [limiter.take("key:a") for _ in range(2)] == [0.0, 0.0]
        assert limiter.take("key:a") > 0
    finally:
        limiter.close()
