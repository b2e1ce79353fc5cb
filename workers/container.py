"""The worker process's adapters, built once per process from settings."""

from __future__ import annotations

from functools import lru_cache

from celery.signals import worker_process_init, worker_process_shutdown

from services.bootstrap import Container, bootstrap
from services.settings import get_settings


@lru_cache(maxsize=1)
def container() -> Container:
    return bootstrap(get_settings())


@worker_process_init.connect
def _fresh_after_fork(**_: object) -> None:
    container.cache_clear()  # a forked child must not share its parent's connections


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    if container.cache_info().currsize:
        container().close()
