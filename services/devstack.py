"""The embedded stack behind ``merit up``: real chain, database, broker, workers, API, test nodes.

Every part is a real server started as a child process. State lives in the data directory, so a
restarted stack resumes its chain, database and broker. ``stack.json`` there records the pids,
URLs, restarts and state of each part, which is how ``merit status`` and ``merit down`` work from
another shell. While the stack runs, ``merit up`` supervises it (services/supervisor.py): a part
that dies is started again with backoff, and given up on when it keeps crashing. Each part logs to
``logs/<part>.log``; every ``merit up`` keeps the previous runs' logs as ``.1`` .. ``.5``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from services.core.errors import ConfigInvalid, Conflict, MeritError, NotFound
from services.core.types import Node, NodeStatus
from services.ports_free import ensure_free
from services.processes import (
    Child,
    group_alive,
    http_ok,
    log_since,
    pid_alive,
    python_module,
    spawn,
    stop_pid,
    wait_ready,
)
from services.settings import Settings
from services.supervisor import Supervised, Supervisor, rotate_log

log = logging.getLogger(__name__)
STATE_FILE = "stack.json"
SAVE_EVERY_S = 5.0  # the dev chain's state file follows the chain at least this often

# queue -> (pool, concurrency); the chain queue has one process: the single chain writer
WORKERS = {
    "inference": ("threads", 8),
    "consensus": ("threads", 4),
    "zk": ("solo", 1),
    "chain": ("solo", 1),
}


Part = Supervised  # name, url, handle, log; kind, how to start it again, its restarts


@dataclass
class Stack:
    settings: Settings
    parts: list[Part] = field(default_factory=list)
    deployment: dict[str, Any] = field(default_factory=dict)
    registered: list[int] = field(default_factory=list)  # registry ids of the test nodes it started
    _rotated: set[Path] = field(default_factory=set)

    @property
    def data_dir(self) -> Path:
        return self.settings.resolved_data_dir

    def log_file(self, name: str) -> Path:
        """``logs/<name>.log``; the first time in this run, an earlier run's log becomes ``.1``."""
        path = self.data_dir / "logs" / f"{name}.log"
        if path not in self._rotated:
            path.parent.mkdir(parents=True, exist_ok=True)
            rotate_log(path)
            self._rotated.add(path)
        return path

    def add(self, part: Part) -> None:
        self.parts.append(part)

    def stop(self) -> None:
        for part in reversed(self.parts):
            try:
                part.handle.stop()
            except Exception:  # keep stopping the others
                log.exception("stopping %s failed", part.name)
        self.parts.clear()

    def child_env(self) -> dict[str, str]:
        s = self.settings
        return {
            "MERIT_DATA_DIR": str(self.data_dir),
            "MERIT_DATABASE_URL": s.effective_database_url,
            "MERIT_BROKER_URL": s.effective_broker_url,
            "MERIT_CHAIN_RPC_URL": s.effective_chain_rpc_url,
            "MERIT_ENV": s.env,
            "MERIT_GOLD_EVERY": str(s.gold_every),
            "MERIT_GOLD_DELAY_S": str(s.gold_delay_s),
            "MERIT_CALIBRATION_QUESTIONS": str(s.calibration_questions),
            **(
                {"MERIT_CHAIN_STATE_FILE": str(s.effective_chain_state_file)}
                if s.effective_chain_state_file
                else {}
            ),
        }


def test_node_offsets(n: int) -> list[int]:
    """Half the test nodes answer arithmetic correctly; the others are off by 1, 2, ..."""
    correct = (n + 1) // 2
    return [0 if i < correct else i - correct + 1 for i in range(n)]


def state_path(settings: Settings) -> Path:
    return settings.resolved_data_dir / STATE_FILE


def read_state(settings: Settings) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return state


def check_ports(settings: Settings) -> None:
    s = settings
    ensure_free(s.api_port, "MERIT_API_PORT")
    if s.chain_rpc_url is None:
        ensure_free(s.anvil_port, "MERIT_ANVIL_PORT")
    if s.database_url is None:
        ensure_free(s.postgres_port, "MERIT_POSTGRES_PORT")
    if s.broker_url is None:
        ensure_free(s.redis_port, "MERIT_REDIS_PORT")
    for i in range(s.test_nodes):
        ensure_free(s.test_node_base_port + i, "MERIT_TEST_NODE_BASE_PORT")


# ------------------------------------------------------------------------------ parts
def start_postgres_part(stack: Stack) -> None:
    from services.store.embedded import start_postgres

    log_file = stack.log_file("postgres")

    def start() -> Any:
        return start_postgres(stack.data_dir / "postgres", stack.settings.postgres_port, log_file)

    pg = start()
    stack.add(Part("postgres", pg.url, pg, log_file, kind="postgres", start=start))


def start_redis_part(stack: Stack) -> None:
    from services.broker.embedded import start_redis

    log_file = stack.log_file("redis")

    def start() -> Any:
        return start_redis(stack.settings.redis_port, stack.data_dir / "redis", log_file)

    r = start()
    stack.add(Part("redis", r.url, r, log_file, kind="redis", start=start))


def start_anvil_part(stack: Stack) -> None:
    """The dev chain, mining a block a second while idle so that challenge windows pass; after a
    restart it is checked against what the marketplace recorded before the stack goes on."""
    from services.chain.anvil import DEV_BLOCK_TIME_S, start_anvil

    log_file = stack.log_file("anvil")
    state = stack.data_dir / "anvil" / "state.json"

    def start() -> Any:  # its state is saved whole by the stack (save_chain), not by anvil itself
        return start_anvil(
            stack.settings.anvil_port,
            state,
            log_file,
            block_time_s=DEV_BLOCK_TIME_S,
            state_interval_s=None,
        )

    a = start()
    stack.add(
        Part(
            "anvil",
            a.rpc_url,
            a,
            log_file,
            kind="anvil",
            start=start,
            after_start=lambda: check_chain(stack),
        )
    )


def check_chain(stack: Stack) -> None:
    """Refuse a chain that went back behind the marketplace's last recorded transaction (anvil
    killed before it saved its state): one line that says what to do."""
    from services.chain.continuity import check_not_behind
    from services.chain.rpc import chain_id_of, connect
    from services.store.db import PostgresStore
    from services.store.outbox import PostgresOutbox

    s = stack.settings
    rpc_url = s.effective_chain_rpc_url
    chain_id = chain_id_of(connect(rpc_url))
    store = PostgresStore.connect(s.effective_database_url)
    try:
        outbox = store.outbox
        assert isinstance(outbox, PostgresOutbox)
        mark = outbox.last_mined(chain_id)
    finally:
        store.close()
    if s.chain_rpc_url is None:
        hint = (
            f"the dev chain's state in {stack.data_dir / 'anvil'} is older than the database's; "
            f"move {stack.data_dir} aside and run `merit up` for a fresh stack"
        )
    else:
        hint = "point MERIT_CHAIN_RPC_URL at the chain this marketplace wrote to"
    check_not_behind(rpc_url, mark, hint=hint)


def migrate_db(stack: Stack) -> None:
    from services.store.migrate import migrate

    migrate(stack.settings.effective_database_url)


def deploy_contracts(stack: Stack) -> None:
    from services.chain.client import connect
    from services.chain.deploy import deploy_for

    w3 = connect(stack.settings.effective_chain_rpc_url)
    dep = deploy_for(w3, stack.settings, stack.settings.dev_records_dir)
    stack.deployment = {
        "chain_id": dep.chain_id, "deployer": dep.deployer, "addresses": dep.addresses,
        "roles": dep.roles.to_record() if dep.roles else {}, "timelock": dep.timelock,
    }  # fmt: skip


def post_settler_bond(stack: Stack) -> None:
    """The settler proposes only with its bond posted: on the dev chain, the deployer funds it
    from the faucet (once; a restart finds it posted)."""
    from services.chain.challenges import ensure_settler_bond
    from services.chain.contracts import ChainSession
    from services.chain.rpc import account_from_key

    s = stack.settings
    with ChainSession.for_settings(s) as session:
        if session.is_dev_chain:
            payer = account_from_key(s.deployer_key.get_secret_value())
            ensure_settler_bond(session, payer, s.role_address("settler"))


def fund_requester(stack: Stack) -> None:
    """On the dev chain, the dev requester gets MRT and an allowance to pay task fees."""
    from services.chain.contracts import ChainSession
    from services.chain.operators import fund_dev_requester

    s = stack.settings
    with ChainSession.for_settings(s) as session:
        if session.is_dev_chain:
            fund_dev_requester(session)


def start_test_node(
    name: str,
    port: int,
    offset: int,
    log_file: Path,
    env: dict[str, str] | None = None,
    fault: str = "none",
    oracle: bool = False,
    delay_s: float = 4.0,
    wait: bool = True,
    signer: str | Path | None = None,
    registry: str | None = None,
) -> Child:
    """A test node; with ``signer`` (a dev account ``dev:N``, or a file holding a key) and
    ``registry`` (the dev chain's NodeRegistry), it signs its work with that key."""
    option = "--dev-account" if str(signer).startswith("dev:") else "--signing-key"
    signing = [option, str(signer), "--registry", registry] if signer and registry else []
    args = python_module(
        "services.cli",
        "node",
        "serve-test",
        "--name",
        name,
        "--port",
        str(port),
        "--offset",
        str(offset),
        "--fault",
        fault,
        "--delay",
        str(delay_s),
        *(["--oracle"] if oracle else []),
        *signing,
    )
    child = spawn(name, args, url=f"http://127.0.0.1:{port}/v1", log=log_file, env=env)
    if wait:
        wait_ready(child, http_ok(f"http://127.0.0.1:{port}/health"), timeout=30)
    return child


def start_test_nodes(stack: Stack) -> None:
    """Start the test nodes; each is operated by anvil dev account N (N = 1, 2, ...), which
    registers and stakes it on chain with its metadata document. That is all: the marketplace
    finds them through the registry's events and examines them (``wait_test_nodes``)."""
    from services.chain.contracts import ChainSession
    from services.chain.operators import register_dev_operator
    from services.content import build_content_store
    from services.nodes.testnode import TEST_MODEL

    s = stack.settings
    with ChainSession.for_settings(s) as session:
        content = build_content_store(s)
        for i, offset in enumerate(test_node_offsets(s.test_nodes)):
            name, port = f"test-node-{i + 1}", s.test_node_base_port + i
            log_file = stack.log_file(name)
            signer, registry = f"dev:{i + 1}", session.registry.address  # it signs as its operator
            child = start_test_node(
                name, port, offset, log_file, oracle=True, signer=signer, registry=registry
            )
            restart = _later(
                start_test_node, name, port, offset, log_file,
                oracle=True, wait=False, signer=signer, registry=registry,
            )  # fmt: skip
            stack.add(Part(name, child.url, child, log_file, kind="node", start=restart))
            _, chain_node_id = register_dev_operator(
                session, content, i + 1, TEST_MODEL, child.url, name=name
            )
            stack.registered.append(chain_node_id)


def wait_test_nodes(stack: Stack) -> None:
    """Wait until the marketplace has found every test node on chain and its examiner has let
    it in (beat's registry follower and the examiner, as for any operator's node)."""
    left_out = [
        n
        for n in wait_examined(stack.settings, stack.registered)
        if n.status is not NodeStatus.ACTIVE
    ]
    if left_out:
        raise ConfigInvalid(
            f"test node {left_out[0].name} was not admitted: {left_out[0].status_note}",
            hint=f"see the worker logs in {stack.data_dir / 'logs'}",
        )


def wait_examined(
    settings: Settings, chain_node_ids: list[int], timeout_s: float = 300
) -> list[Node]:
    """The marketplace's records of registry nodes ``chain_node_ids`` once each is examined:
    active, or inactive with the reason (its metadata refused, its calibration failed)."""
    from services.app.registry import WAITING
    from services.store.db import PostgresStore

    if not chain_node_ids:
        return []
    store = PostgresStore.connect(settings.effective_database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            known = {
                n.chain_node_id: n for n in store.nodes.list() if n.chain_node_id in chain_node_ids
            }
            if len(known) == len(chain_node_ids) and all(
                n.status_note != WAITING for n in known.values()
            ):
                return [known[i] for i in chain_node_ids]
            if time.monotonic() > deadline:
                waiting = sorted(
                    set(chain_node_ids) - {i for i, n in known.items() if n.status_note != WAITING}
                )
                raise ConfigInvalid(
                    f"registry nodes {waiting} not examined within {timeout_s:.0f} s",
                    hint=f"see the beat and worker logs in {settings.resolved_data_dir / 'logs'}",
                )
            time.sleep(0.5)
    finally:
        store.close()


def commit_gold(stack: Stack) -> None:
    """Draw the open epoch's hidden gold set and commit its root on chain before any task."""
    from services.app.gold import commit_gold_set
    from services.bootstrap import bootstrap

    with bootstrap(stack.settings) as c:
        commit_gold_set(c.store, c.chain(), c.bank)


def start_worker(
    queue: str,
    pool: str,
    concurrency: int,
    log_file: Path,
    env: dict[str, str],
    beat_schedule: Path | None = None,
) -> Child:
    """A Celery worker for ``queue``; with ``beat_schedule`` it also runs beat (the periodic epoch
    close) inside it, keeping beat's state in that file."""
    beat = ["-B", "--schedule", str(beat_schedule)] if beat_schedule else []
    args = python_module(
        "celery",
        "-A",
        "workers.main",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "--pool",
        pool,
        "-c",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        *beat,
    )
    return spawn(f"worker-{queue}", args, url=queue, log=log_file, env=env)


def wait_workers(children: list[Child], timeout: float = 60) -> None:
    """Each worker log says 'ready.' once it consumes from its queue (this run's part of the
    log)."""
    for child in children:
        wait_ready(child, partial(_says_ready, child), timeout)


def _says_ready(child: Child) -> bool:
    return "ready." in log_since(child)


def start_workers(stack: Stack) -> None:
    env = stack.child_env()
    children = []
    for queue, (pool, conc) in WORKERS.items():
        log_file = stack.log_file(f"worker-{queue}")
        child = start_worker(queue, pool, conc, log_file, env)
        children.append(child)
        restart = _later(start_worker, queue, pool, conc, log_file, env)
        stack.add(
            Part(
                child.name,
                f"queue {queue} ({pool} x{conc})",
                child,
                log_file,
                kind="worker",
                start=restart,
            )
        )
    wait_workers(children)


def start_beat(schedule: Path, log_file: Path, env: dict[str, str]) -> Child:
    """Celery beat, the one scheduler: the reconcilers and refunds, and an epoch closed every
    MERIT_EPOCH_SECONDS when set. A process of its own (a worker's embedded beat that dies is not
    started again), keeping its state in ``schedule`` and no pid file (one left by a killed beat
    would refuse its restart)."""
    args = python_module(
        "celery",
        "-A",
        "workers.main",
        "beat",
        "--schedule",
        str(schedule),
        "--pidfile=",
        "--loglevel",
        "INFO",
    )
    return spawn("beat", args, url="schedule", log=log_file, env=env)


def start_beat_part(stack: Stack) -> None:
    log_file = stack.log_file("beat")
    schedule = stack.data_dir / "celerybeat-schedule"
    child = start_beat(schedule, log_file, stack.child_env())
    restart = _later(start_beat, schedule, log_file, stack.child_env())
    stack.add(
        Part("beat", f"schedule {schedule.name}", child, log_file, kind="beat", start=restart)
    )


def start_api(
    host: str, port: int, log_file: Path, env: dict[str, str], wait: bool = True
) -> Child:
    args = python_module(
        "uvicorn",
        "--factory",
        "services.api.app:create_app_from_env",
        "--host",
        host,
        "--port",
        str(port),
    )
    child = spawn("api", args, url=f"http://{host}:{port}", log=log_file, env=env)
    if wait:
        wait_ready(child, http_ok(f"http://{host}:{port}/healthz"), timeout=60)
    return child


def start_api_part(stack: Stack) -> None:
    s = stack.settings
    log_file = stack.log_file("api")
    child = start_api(s.api_host, s.api_port, log_file, stack.child_env())
    restart = _later(start_api, s.api_host, s.api_port, log_file, stack.child_env(), wait=False)
    stack.add(Part("api", child.url, child, log_file, kind="api", start=restart))


def _later(start: Callable[..., Child], *args: Any, **kwargs: Any) -> Callable[[], Child]:
    """``start`` with these arguments, for the supervisor to call when the part has died."""
    return lambda: start(*args, **kwargs)


# ------------------------------------------------------------------------------ up / status / down
def steps(settings: Settings) -> list[tuple[str, Callable[[Stack], None]]]:
    out: list[tuple[str, Callable[[Stack], None]]] = []
    if settings.database_url is None:
        out.append(("PostgreSQL", start_postgres_part))
    if settings.broker_url is None:
        out.append(("redis", start_redis_part))
    if settings.chain_rpc_url is None:
        out.append(("anvil", start_anvil_part))
    out += [
        ("migrations", migrate_db),
        ("chain check", check_chain),
        ("contracts", deploy_contracts),
        ("settler bond", post_settler_bond),
        ("dev requester", fund_requester),
        ("gold set", commit_gold),
        ("test nodes", start_test_nodes),
        ("chain saved", save_chain),  # the setup's transactions survive a kill -9 of anvil
        ("workers", start_workers),
        ("beat", start_beat_part),
        ("test nodes examined", wait_test_nodes),
        ("API", start_api_part),
    ]
    return out


def save_chain(stack: Stack) -> None:
    """Write the dev chain's state file whole (the setup's transactions, and from the supervisor
    every ``SAVE_EVERY_S`` what happened since; what the marketplace acts on is saved before it
    acts: services.chain.durable)."""
    from services.chain.durable import persister_for

    s = stack.settings
    persister = persister_for(s.effective_chain_rpc_url, s.effective_chain_state_file)
    if persister is not None:
        persister.persist()


@contextmanager
def running(settings: Settings, on_step: Callable[[str], None] = lambda _: None) -> Iterator[Stack]:
    """Start the stack, record it in stack.json, yield it, stop it (in reverse order) on exit."""
    previous = read_state(settings)
    if previous and pid_alive(int(previous["pid"])):
        raise Conflict(
            f"a stack is already running from {settings.resolved_data_dir} (pid {previous['pid']})",
            hint="run `merit down` first, or set MERIT_DATA_DIR to another directory",
        )
    leftovers = [
        f"{p['name']} (pid {p['pid']})" for p in (previous or {}).get("parts", []) if _part_left(p)
    ]
    if leftovers:
        raise Conflict(
            f"an earlier `merit up` stopped without its parts: {', '.join(leftovers)} still run",
            hint="run `merit down` to stop them",
        )
    check_ports(settings)
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings)
    try:
        for label, step in steps(settings):
            on_step(label)
            step(stack)
        write_state(stack)
        yield stack
    finally:
        stack.stop()
        state_path(settings).unlink(missing_ok=True)


def write_state(stack: Stack) -> None:
    s = stack.settings
    state = {
        "pid": os.getpid(),
        "started_at": time.time(),
        "data_dir": str(stack.data_dir),
        "api_url": s.effective_api_url,
        "docs_url": s.effective_api_url + "/docs",
        "explorer_url": s.effective_api_url + "/explorer",
        "chain_rpc_url": s.effective_chain_rpc_url,
        "database_url": s.effective_database_url,
        "broker_url": s.effective_broker_url,
        "deployment": stack.deployment,
        "parts": [
            {
                "name": p.name, "kind": p.kind, "pid": p.pid, "url": p.url,
                "stop_signal": int(getattr(p.handle, "stop_signal", signal.SIGTERM)),
                "log": str(p.log) if p.log else None,
                "state": p.state.value, "restarts": p.restarts, "last_exit": p.last_exit,
            }
            for p in stack.parts
        ],
    }  # fmt: skip
    path = state_path(s)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    tmp.replace(path)


def wait_for_signal(stack: Stack, say: Callable[[str], None]) -> int:
    """Supervise the stack until SIGINT/SIGTERM (exit 0): a part that dies is restarted (each
    event said, logged in logs/supervisor.log and recorded in stack.json). Exit 1 when a
    restarted part finds the stack unfit to go on (e.g. the chain went back)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = Supervisor(stack.parts)
    record = stack.log_file("supervisor")
    saved = time.monotonic()
    while not stop.wait(0.5):
        try:
            events = supervisor.tick()
        except MeritError as exc:
            events = [f"{exc.one_line()}; stopping the stack"]
            _record_events(record, events, say)
            return 1
        if events:
            _record_events(record, events, say)
            write_state(stack)
        if time.monotonic() - saved >= SAVE_EVERY_S:
            saved = time.monotonic()
            try:
                save_chain(stack)
            except MeritError:  # anvil is down: the supervisor restarts it; saved next time
                log.debug("dev chain not saved", exc_info=True)
    return 0


def _record_events(path: Path, events: list[str], say: Callable[[str], None]) -> None:
    with path.open("a") as f:
        for line in events:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
            say(line)


def _part_left(part: dict[str, Any]) -> bool:
    """Whether a recorded part (or anything in its process group) still runs."""
    pid = int(part["pid"])
    return pid_alive(pid) or group_alive(pid)


def down(settings: Settings, timeout: float = 60) -> list[str]:
    """Stop a stack started by ``merit up`` (from any shell); returns what was stopped."""
    state = read_state(settings)
    if state is None:
        raise NotFound(
            f"no stack is running from {settings.resolved_data_dir}",
            hint="start one with `merit up`",
        )
    stopped = []
    if pid_alive(int(state["pid"])):
        stop_pid(int(state["pid"]), timeout)  # merit up stops its parts in order
        stopped.append(f"merit up (pid {state['pid']})")
    for part in reversed(state["parts"]):  # whatever a crashed `merit up` left behind
        if _part_left(part):
            stop_pid(int(part["pid"]), sig=int(part.get("stop_signal", signal.SIGTERM)))
            stopped.append(f"{part['name']} (pid {part['pid']})")
    state_path(settings).unlink(missing_ok=True)
    return stopped


# ------------------------------------------------------------------------------ health
def health(state: dict[str, Any]) -> dict[str, str]:
    """What a probe of each recorded part says now, by name: "ok" (with a detail where useful),
    "not answering", "stopped", "restarting" or "failed" (given up on)."""
    workers = (
        _worker_pongs(state)
        if any(p.get("kind") == "worker" for p in state.get("parts", []))
        else set()
    )
    out: dict[str, str] = {}
    for part in state.get("parts", []):
        recorded = part.get("state", "running")
        if recorded != "running":
            out[part["name"]] = recorded
        elif not pid_alive(int(part["pid"])):
            out[part["name"]] = "stopped"
        else:
            out[part["name"]] = _probe(part, workers)
    return out


def _probe(part: dict[str, Any], workers: set[str]) -> str:
    kind, url = part.get("kind", ""), str(part.get("url", ""))
    try:
        if kind == "postgres":
            import psycopg

            psycopg.connect(url, connect_timeout=2).close()
            return "ok"
        if kind == "redis":
            import redis

            redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping()
            return "ok"
        if kind == "anvil":
            from services.chain.anvil import rpc_call

            return f"ok (block {int(str(rpc_call(url, 'eth_blockNumber', timeout=1.0)), 16)})"
        if kind == "api":
            return "ok" if http_ok(url + "/healthz")() else "not answering"
        if kind == "node":
            return "ok" if http_ok(url.removesuffix("/v1") + "/health")() else "not answering"
        if kind == "worker":
            return "ok" if part["name"].removeprefix("worker-") in workers else "not answering"
    except Exception:  # noqa: BLE001 - any failure of a probe is the answer
        return "not answering"
    return "running"


def _worker_pongs(state: dict[str, Any]) -> set[str]:
    """The queues whose worker answered one broadcast ping (1 s)."""
    from celery import Celery

    app = Celery(broker=state.get("broker_url"))
    try:
        replies = app.control.ping(timeout=1.0)
    except Exception:  # noqa: BLE001 - whatever the broker raises, no worker can answer
        return set()
    finally:
        app.close()
    return {name.split("@", 1)[0] for reply in replies or [] for name in reply}
