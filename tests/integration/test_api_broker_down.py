"""Submitting while the broker is unreachable: 503 with Retry-After, and no task left stored."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.api.app import create_app
from services.bootstrap import bootstrap
from services.ports_free import free_port
from services.settings import DEV_API_KEY, Settings


def test_broker_unreachable_gives_503_and_stores_nothing(postgres_url, store, tmp_path):
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=postgres_url,
        broker_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens here
    )
    container = bootstrap(settings)
    try:
        client = TestClient(create_app(container))
        resp = client.post("/v1/tasks", json={"prompt": "What is 2+2?"},
                           headers={"Authorization": f"Bearer {DEV_API_KEY}"})
        assert resp.status_code == 503
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert int(resp.headers["retry-after"]) > 0
        assert store.tasks.list() == []
    finally:
        container.close()
