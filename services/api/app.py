"""The FastAPI application, built around an injected container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api import explorer, problems
from services.api.bodylimit import BodyLimit
from services.api.routes import router
from services.bootstrap import Container, bootstrap
from services.settings import get_settings


def create_app(container: Container) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        container.close()

    app = FastAPI(
        lifespan=lifespan,
        title="meritswarm",
        version="0.1.0",
        description="Swarm inference with peer-ranked consensus, settled on an EVM chain.",
    )
    app.state.container = container
    app.add_middleware(BodyLimit, max_bytes=container.settings.max_body_bytes)
    problems.install(app)
    app.include_router(router)
    app.include_router(explorer.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        container.store.ping()
        container.queue.ping()
        return {"status": "ok"}

    return app


def create_app_from_env() -> FastAPI:
    """``uvicorn --factory services.api.app:create_app_from_env``."""
    return create_app(bootstrap(get_settings()))
