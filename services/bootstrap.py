"""The composition root: builds every adapter from settings, once per process."""

from __future__ import annotations

from dataclasses import dataclass

from services.app.ports import ContentStore, NodeGateway, RoundQueue, Store
from services.broker.queue import CeleryRoundQueue
from services.content import build_content_store
from services.nodes.client import HttpNodeGateway
from services.settings import Settings
from services.store.db import PostgresStore
from workers.app import create_celery


@dataclass
class Container:
    settings: Settings
    store: Store
    content: ContentStore
    nodes: NodeGateway
    queue: RoundQueue

    def close(self) -> None:
        self.store.close()
        close = getattr(self.nodes, "close", None)
        if close:
            close()


def bootstrap(settings: Settings) -> Container:
    return Container(
        settings=settings,
        store=PostgresStore.connect(settings.effective_database_url),
        content=build_content_store(settings),
        nodes=HttpNodeGateway(timeout_s=settings.node_timeout_s),
        queue=CeleryRoundQueue(create_celery(settings)),
    )
