"""Where merit finds the files it reads at run time, the npm tools it runs, and its checkout.

What a run reads is package data, found through ``importlib.resources``, so a wheel installed
anywhere finds it as a checkout does: the contract artifacts (``services/chain/artifacts``), the
reward circuit's wasm, proving and verification keys and the prover script (``zk/artifacts``,
``zk/prover.mjs``), the SQL migrations (``services/store/migrations``).

The npm tools (anvil, snarkjs; solc for contract builds) live in a ``node_modules`` directory:
``MERIT_NODE_MODULES``, else the checkout's. The repository root is needed only by development
tasks (compiling the contracts, test-only contracts, the committed records of public chains'
deployments); ``repo_root`` is the one place that finds it.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from services.core.errors import ConfigInvalid

NODE_MODULES_SETTING = "MERIT_NODE_MODULES"
_CHECKOUT = Path(__file__).resolve().parents[1]  # the repository root when run from a checkout


def package_path(package: str, *parts: str) -> Path:
    """A file or directory shipped inside ``package`` (installed on disk, as pip installs it)."""
    return Path(str(files(package).joinpath(*parts)))


def repo_root() -> Path:
    """The checkout this code runs from; ConfigInvalid when merit is installed outside one."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "contracts").is_dir():
        return _CHECKOUT
    raise ConfigInvalid(
        f"merit is installed at {_CHECKOUT}, not run from a checkout of its repository",
        hint="run this development task in a clone of the repository (`pip install -e .` there)",
    )


def node_modules() -> Path:
    """The npm tools' directory: MERIT_NODE_MODULES, else the checkout's ``node_modules``."""
    named = os.environ.get(NODE_MODULES_SETTING)
    if named:
        path = Path(named).expanduser()
        if not path.is_dir():
            raise ConfigInvalid(
                f"{NODE_MODULES_SETTING}={named} is not a directory",
                hint=f"point {NODE_MODULES_SETTING} at the node_modules `npm ci` made, or unset it",
            )
        return path
    local = _CHECKOUT / "node_modules"
    if local.is_dir():
        return local
    raise ConfigInvalid(
        f"no npm tools: {NODE_MODULES_SETTING} is unset and {local} does not exist",
        hint=f"set {NODE_MODULES_SETTING} to the node_modules `npm ci` made in the repository",
    )
