"""Imports point inward only (DESIGN.md, "Architecture"), read from the source (ast; nothing imported).

Every module of ``services/``, ``workers/`` and ``zk/`` has a layer, from the inside out:

0. core: ``services.core``, pure domain.
1. app: ``services.app``, the use cases and their ports.
2. adapters: what the ports are implemented with (database, chain, nodes, broker, content, zk,
   the REST client, in-memory stand-ins) and the settings and process helpers they share.
3. composition: what builds adapters and hands them to use cases (``bootstrap``, the embedded
   stack, the demo, the simulation harness).
4. entry points: the REST API, the ``merit`` command and the Celery tasks; each gets its adapters
   from the composition and calls one use case.

An import, at the top of a module or inside a function, may only go to the same layer or an inner
one. A module of those trees that no layer names fails the test too, so a new package is placed
before it can grow an arrow outward.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
TREES = ("services", "workers", "zk")

CORE, APP, ADAPTER, COMPOSITION, ENTRY = range(5)
LAYER_NAMES = ("core", "app", "adapter", "composition", "entry point")
LAYERS = {  # module prefix -> layer; the longest prefix that matches places a module
    "services.core": CORE,
    "services.app": APP,
    "services.store": ADAPTER,
    "services.chain": ADAPTER,
    "services.nodes": ADAPTER,
    "services.broker": ADAPTER,
    "services.content": ADAPTER,
    "services.api_client": ADAPTER,
    "services.inmemory": ADAPTER,
    "zk": ADAPTER,
    "services.settings": ADAPTER,
    "services.logs": ADAPTER,
    "services.resources": ADAPTER,
    "services.processes": ADAPTER,
    "services.ports_free": ADAPTER,
    "services.supervisor": ADAPTER,
    "services.bootstrap": COMPOSITION,
    "services.devstack": COMPOSITION,
    "services.demo": COMPOSITION,
    "services.sim": COMPOSITION,
    "services.api": ENTRY,
    "services.cli": ENTRY,
    "workers": ENTRY,
    "services": CORE,  # the package itself (an empty __init__), not what lies under it
}
ALLOWED = {  # (importing prefix, imported prefix): why this arrow outward is by design
    # zk.encoding and zk.rows state what the reward circuit checks, in pure Python (no socket, no
    # process, no prover): a use case that compares a proposal with its bundle computes with them
    # as with services.core, while the prover that runs circom stays an adapter (zk.epoch_proof)
    ("services.app", "zk.encoding"): "the circuit's statement, pure",
    ("services.app", "zk.rows"): "the circuit's rows from a bundle, pure",
}


class Arrow(NamedTuple):
    source: str  # importing module
    target: str  # imported module
    line: int

    def __str__(self) -> str:
        s, t = layer_of(self.source), layer_of(self.target)
        return (
            f"{self.source} ({LAYER_NAMES[s]}) -> {self.target} ({LAYER_NAMES[t]}),"
            f" {path_of(self.source)}:{self.line}"
        )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if "node_modules" not in path.parts:
                found[module_name(path)] = path
    return found


def path_of(module: str) -> str:
    return str(modules()[module].relative_to(ROOT))


def owner(name: str) -> str | None:
    """The project's module that ``name`` (a module, or a name inside one) belongs to."""
    while name:
        if name in modules():
            return name
        name = name.rpartition(".")[0]
    return None


def placed_by(module: str) -> str | None:
    """The longest prefix of LAYERS that places ``module``."""
    prefixes = [p for p in LAYERS if module == p or (p != "services" and module.startswith(p + "."))]
    return max(prefixes, key=len, default=None)


def layer_of(module: str) -> int:
    prefix = placed_by(module)
    assert prefix is not None, f"{module} has no layer"
    return LAYERS[prefix]


def imports(module: str) -> list[tuple[str, int]]:
    """(name imported, line) for every import statement of ``module``, wherever it stands."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name``, a name
            # inside mod (``owner`` tells them apart)
            out += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return out


def arrows() -> list[Arrow]:
    out = []
    for module in modules():
        for name, line in imports(module):
            target = owner(name)
            if target is not None and target != module:
                out.append(Arrow(module, target, line))
    return sorted(set(out))


def allowed(arrow: Arrow) -> bool:
    return any(
        (arrow.source + ".").startswith(s + ".") and (arrow.target + ".").startswith(t + ".")
        for s, t in ALLOWED
    )


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in modules() if placed_by(m) is None]
    assert not unplaced, f"modules no layer names (add them to LAYERS): {unplaced}"


def test_imports_point_inward_only() -> None:
    outward = [a for a in arrows() if layer_of(a.target) > layer_of(a.source) and not allowed(a)]
    assert not outward, "imports from an inner layer to an outer one:\n" + "\n".join(map(str, outward))


def test_every_allowed_arrow_is_still_drawn() -> None:
    drawn = arrows()
    stale = [
        pair for pair in ALLOWED
        if not any(allowed(a) and (a.source + ".").startswith(pair[0] + ".")
                   and (a.target + ".").startswith(pair[1] + ".") for a in drawn)
    ]
    assert not stale, f"allowed arrows no module draws any more (remove them from ALLOWED): {stale}"


def test_the_checker_sees_imports_inside_functions_and_relative_ones() -> None:
    source = (
        "from services.core import errors\n"
        "def f():\n"
        "    from services.broker.queue import CeleryRoundQueue\n"
        "    import services.cli.main\n"
        "from . import bootstrap\n"
        "from .api import app as web\n"
    )
    found = {(owner(name), line) for name, line in imports_in(source, "services")}
    assert found == {
        ("services.core.errors", 1), ("services.broker.queue", 3), ("services.cli.main", 4),
        ("services.bootstrap", 5), ("services.api.app", 6),
    }
    assert layer_of("workers.main") == ENTRY and layer_of("services.core.types") == CORE
    assert layer_of("services.cli.demo_cmd") > layer_of("services.demo") > layer_of("services.chain.rpc")
