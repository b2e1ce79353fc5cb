"""The composition root: builds every adapter from settings, once per process."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from services.app.escrow import FeeTerms
from services.app.gold import GeneratedBank
from services.app.ports import (
    ContentStore,
    NodeGateway,
    QuestionBank,
    RegistryLog,
    RoundQueue,
    Store,
)
from services.broker.celery_app import create_celery
from services.broker.queue import CeleryRoundQueue
from services.broker.ratelimit import RateLimiter
from services.content import build_content_store
from services.core.errors import ConfigInvalid
from services.core.work import SigningDomain
from services.nodes.client import HttpNodeGateway
from services.settings import Settings
from services.store.db import PostgresStore

if TYPE_CHECKING:
    from services.chain.settlement import ChainSettlement


@dataclass
class Container:
    """Every adapter of one process, each built once; ``with bootstrap(settings) as c:`` closes
    them all (the store, the limiter, the node gateway, the chain once it was opened)."""

    settings: Settings
    store: Store
    content: ContentStore
    nodes: NodeGateway
    queue: RoundQueue
    bank: QuestionBank
    limiter: RateLimiter | None = None  # per-API-key token buckets (the API's)
    chain_rpc_url: str | None = None  # the chain written to when not the settings' (--rpc-url)
    _chain: ChainSettlement | None = field(default=None, init=False, repr=False)
    _fees: FeeTerms | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def chain(self) -> ChainSettlement:
        """The marketplace's chain (contracts, role senders, the outbox), opened once per
        process on first use; ChainUnavailable while the chain cannot be reached."""
        with self._lock:
            if self._chain is None:
                from services.chain.settlement import open_chain_settlement

                self._chain = open_chain_settlement(self.settings, self.store, self.chain_rpc_url)
            return self._chain

    def signing_domain(self) -> SigningDomain:
        """The domain nodes sign their work under: MERIT_SIGNING_CHAIN_ID and
        MERIT_SIGNING_REGISTRY when set, else the marketplace chain's id and its NodeRegistry's
        address (read when the first node is asked for work)."""
        s = self.settings
        if s.signing_chain_id is not None and s.signing_registry is not None:
            return SigningDomain(s.signing_chain_id, s.signing_registry)
        return self.chain().session.signing_domain

    def registry_log(self) -> RegistryLog:
        """NodeRegistry as the follower reads it, over the marketplace's chain."""
        from services.chain.registry_log import ChainRegistryLog

        return ChainRegistryLog(self.chain().session)

    def endpoint_check(self) -> Callable[[str], str]:
        """Registration's check of a node endpoint, with the deployment's loopback rule."""
        from services.nodes.egress import check_endpoint

        return partial(check_endpoint, allow_loopback=self.settings.nodes_on_loopback)

    def admits_test_nodes(self) -> bool:
        """Test nodes are admitted on the dev chain only."""
        from services.chain.anvil import DEV_CHAIN_ID

        return self.chain().chain_id == DEV_CHAIN_ID

    def escrow_for_close(self) -> ChainSettlement | None:
        """The escrow an epoch close moves fees out of: the chain when any finished task's fee is
        held, else None (a close without fees needs no chain)."""
        from services.core.types import FeeState

        return (
            self.chain() if self.store.tasks.with_fee(FeeState.HELD, done=True, limit=1) else None
        )

    def fee_terms(self, *, escrow: bool = True) -> FeeTerms:
        """What a task's fee must be: the escrow's range, read from the chain once (without
        ``escrow``, only whether free tasks are taken)."""
        if not escrow:
            return FeeTerms(
                range=None, free_tasks=self.settings.free_tasks, wait_s=self.settings.fee_wait_s
            )
        if self._fees is None:
            self._fees = FeeTerms(
                self.chain().fee_range(), self.settings.free_tasks, self.settings.fee_wait_s
            )
        return self._fees

    def close(self) -> None:
        self.store.close()
        if self.limiter is not None:
            self.limiter.close()
        close = getattr(self.nodes, "close", None)
        if close:
            close()
        with self._lock:
            chain, self._chain = self._chain, None
        if chain is not None:
            chain.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def bootstrap(settings: Settings, *, chain_rpc_url: str | None = None) -> Container:
    """Every adapter from ``settings``; the chain is opened on first use, at ``chain_rpc_url``
    when given (else the settings' chain)."""
    c = Container(
        settings=settings,
        chain_rpc_url=chain_rpc_url,
        store=PostgresStore.connect(settings.effective_database_url),
        content=build_content_store(settings),
        nodes=HttpNodeGateway(
            timeout_s=settings.node_timeout_s,
            allow_loopback=settings.nodes_on_loopback,
            max_reply_bytes=settings.node_max_reply_bytes,
            domain=lambda: c.signing_domain(),
        ),
        queue=CeleryRoundQueue(create_celery(settings)),
        bank=question_bank(settings),
        limiter=RateLimiter(
            settings.rate_limit_per_s, settings.rate_limit_burst, settings.effective_broker_url
        ),
    )
    return c


def question_bank(settings: Settings) -> QuestionBank:
    """Gold and calibration questions from the deployment's secret: ``MERIT_GOLD_SECRET``, or in
    dev and test a random one made once in ``data_dir/gold.secret`` (readable by its owner only)."""
    if settings.gold_secret is not None:
        try:
            secret = bytes.fromhex(settings.gold_secret.get_secret_value())
        except ValueError as exc:
            raise ConfigInvalid(
                "MERIT_GOLD_SECRET is not hex", hint="use secrets.token_hex(32)"
            ) from exc
        return GeneratedBank(secret, max_delay_s=settings.gold_delay_s)
    path = settings.resolved_data_dir / "gold.secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # made before, or by another process of the stack just now
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be writing it this very moment
        text = path.read_text().strip()
        if text:
            return GeneratedBank(bytes.fromhex(text), max_delay_s=settings.gold_delay_s)
        time.sleep(0.01)
    raise ConfigInvalid(
        f"{path} is empty", hint="remove it; a new secret is made on the next start"
    )
