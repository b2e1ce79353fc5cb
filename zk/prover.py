"""The warm Groth16 prover: a long-lived ``node zk/prover.mjs`` process holding snarkjs.

One process per worker, started on first use and kept warm; requests go one at a time over a
line-delimited JSON pipe. A crashed or wedged process is restarted and the request retried once;
a proof is only ever returned after the prover's own output says so (nothing is faked here: the
caller verifies every proof with ``zk.verifier`` before it spends gas).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from services.core.errors import ConfigInvalid, MeritError
from services.resources import NODE_MODULES_SETTING, node_modules, package_path

ARTIFACTS = package_path("zk", "artifacts")
CIRCUIT = "reward_chunk_32"
WASM = ARTIFACTS / f"{CIRCUIT}.wasm"
ZKEY = ARTIFACTS / f"{CIRCUIT}.zkey"
VKEY = ARTIFACTS / "verification_key.json"
SCRIPT = package_path("zk", "prover.mjs")


class ProverFailed(MeritError):
    """The prover could not produce a proof (a bad input, or the process died twice)."""

    code = "prover-failed"
    title = "Prover failed"


@dataclass(frozen=True)
class ProofResult:
    proof: dict[str, Any]  # snarkjs JSON (pi_a, pi_b, pi_c)
    public_signals: tuple[int, ...]
    ms: int  # witness + proof, inside the warm process


def _node() -> str:
    found = os.environ.get("MERIT_NODE_BIN") or shutil.which("node")
    if not found:
        raise ProverFailed(
            "node is not on PATH", hint="install Node.js 18+ (the prover runs snarkjs under node)"
        )
    return found


def _snarkjs_modules() -> Path:
    """The node_modules holding snarkjs, which the prover script loads from there."""
    try:
        return node_modules()
    except ConfigInvalid as exc:
        raise ProverFailed(exc.detail, hint=exc.hint) from exc


class Prover:
    """A warm snarkjs process. Thread-safe: requests are serialised."""

    def __init__(
        self, wasm: Path = WASM, zkey: Path = ZKEY, vkey: Path = VKEY, timeout_s: float = 300.0
    ) -> None:
        for p in (wasm, zkey, vkey):
            if not p.is_file():
                raise ProverFailed(
                    f"{p} is missing", hint="run zk/build (or check out zk/artifacts)"
                )
        self.wasm, self.zkey, self.vkey = wasm, zkey, vkey
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._next = 0
        self.restarts = 0

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is not None:
            self.close_locked()  # it died between requests
            self.restarts += 1
        if self._proc is None:
            self._proc = subprocess.Popen(
                [_node(), str(SCRIPT)],
                env={**os.environ, NODE_MODULES_SETTING: str(_snarkjs_modules())},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        return self._proc

    def _ask_once(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        self._next += 1
        request = {"id": self._next, **request}
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        timer = threading.Timer(self.timeout_s, proc.kill)
        timer.start()
        try:
            line = proc.stdout.readline()
        finally:
            timer.cancel()
        if not line:
            raise BrokenPipeError("the prover process exited")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("id") != request["id"]:
            raise BrokenPipeError("the prover answered out of turn")
        return reply

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                reply = self._ask_once(request)
            except (BrokenPipeError, OSError, ValueError):
                self.close_locked()
                self.restarts += 1
                try:
                    reply = self._ask_once(request)
                except (BrokenPipeError, OSError, ValueError) as exc:
                    self.close_locked()
                    raise ProverFailed(
                        f"the prover process died twice: {exc}",
                        hint="run `npm ci --ignore-scripts` and check `node zk/prover.mjs`",
                    ) from exc
        if "error" in reply:
            raise ProverFailed(f"the prover refused the input: {reply['error']}")
        return reply

    def ping(self) -> bool:
        return bool(self._ask({"op": "ping"}).get("ok"))

    def outputs(self, circuit_input: dict[str, Any], count: int = 3) -> tuple[int, ...]:
        """The circuit's public outputs for ``circuit_input`` (witness only, no proof)."""
        reply = self._ask(
            {"op": "witness", "wasm": str(self.wasm), "input": circuit_input, "outputs": count}
        )
        return tuple(int(x) for x in reply["outputs"])

    def prove(self, circuit_input: dict[str, Any]) -> ProofResult:
        reply = self._ask(
            {"op": "prove", "wasm": str(self.wasm), "zkey": str(self.zkey), "input": circuit_input}
        )
        return ProofResult(
            reply["proof"], tuple(int(x) for x in reply["publicSignals"]), int(reply["ms"])
        )

    def snarkjs_verify(self, proof: dict[str, Any], public_signals: list[str] | list[int]) -> bool:
        """snarkjs's own verdict (the reference the agreement tests compare against)."""
        reply = self._ask(
            {
                "op": "verify",
                "vkey": str(self.vkey),
                "proof": proof,
                "publicSignals": [str(x) for x in public_signals],
            }
        )
        return bool(reply["ok"])

    def kill(self) -> None:
        """Kill the process (tests use this to show that a crash is retried)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()

    def close_locked(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: Prover | None = None
_shared_lock = threading.Lock()


def shared() -> Prover:
    """The process-wide warm prover (the zk worker's)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Prover()
        return _shared
