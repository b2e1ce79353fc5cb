"""PostgreSQL down: the API answers 503 problem+json at once (not after the pool's whole timeout),
and answers normally again once the server is back. A real PostgreSQL of the test's own."""

from __future__ import annotations

import time
import uuid

from fastapi.testclient import TestClient

from services.api.app import create_app
from services.bootstrap import bootstrap
from services.settings import DEV_API_KEY, Settings
from services.store.embedded import start_postgres
from services.store.migrate import migrate
from tests.fixtures.postgres import TEST_SERVER_SETTINGS, start_test_postgres

POOL_TIMEOUT_S = 10.0  # what a request waited for its 503 before


def test_with_postgres_down_a_request_gets_503_at_once_and_200_once_it_is_back(redis_url, tmp_path):
    server = start_test_postgres(tmp_path / "pg")
    migrate(server.url)
    container = bootstrap(Settings(env="test", data_dir=tmp_path, database_url=server.url, broker_url=redis_url))
    try:
        client = TestClient(create_app(container), headers={"Authorization": f"Bearer {DEV_API_KEY}"})
        missing = f"/v1/tasks/{uuid.uuid4()}"
        assert client.get(missing).status_code == 404  # the route reaches the database

        server.stop()  # PostgreSQL down, the pool's connections with it
        timings = []
        for path in (missing, missing, "/healthz"):
            started = time.monotonic()
            resp = client.get(path)
            timings.append(time.monotonic() - started)
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert resp.json()["title"] == "Database unavailable" and int(resp.headers["retry-after"]) > 0
        print("time to 503 with PostgreSQL down (s):", ", ".join(f"{t:.3f}" for t in timings))
        assert max(timings) < POOL_TIMEOUT_S / 3  # not the pool's timeout: the server said no

        server = start_postgres(server.data_dir, server.port, server.log_file, settings=TEST_SERVER_SETTINGS)
        deadline = time.monotonic() + 30
        while (status := client.get(missing).status_code) != 404:  # the pool reconnects by itself
            assert status == 503 and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        container.close()
        server.stop()
