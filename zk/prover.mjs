// The warm Groth16 prover: one long-lived node process holding snarkjs, answering one JSON
// request per line on stdin with one JSON reply per line on stdout (zk/prover.py drives it).
//
//   {"id": 1, "op": "witness", "wasm": PATH, "input": {...}}        -> {"id": 1, "outputs": ["..."]}
//   {"id": 2, "op": "prove", "wasm": PATH, "zkey": PATH, "input": {...}}
//                                     -> {"id": 2, "proof": {...}, "publicSignals": [...], "ms": N}
//   {"id": 3, "op": "verify", "vkey": PATH, "proof": {...}, "publicSignals": [...]} -> {"id": 3, "ok": b}
//   {"id": 4, "op": "ping"}                                         -> {"id": 4, "ok": true}
// Errors come back as {"id": N, "error": "..."}; the process stays up.
// snarkjs is loaded from MERIT_NODE_MODULES (zk/prover.py names it), else from beside this file.
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const modules = process.env.MERIT_NODE_MODULES;
const snarkjs = createRequire(modules ? join(modules, "prover.cjs") : import.meta.url)("snarkjs");

const vkeys = new Map();
const nOutputs = new Map();

function vkey(path) {
  if (!vkeys.has(path)) vkeys.set(path, JSON.parse(readFileSync(path, "utf8")));
  return vkeys.get(path);
}

async function witness(wasm, input) {
  const wtns = { type: "mem" };
  await snarkjs.wtns.calculate(input, wasm, wtns);
  return wtns;
}

async function handle(req) {
  switch (req.op) {
    case "ping":
      return { ok: true };
    case "witness": {
      const w = await snarkjs.wtns.exportJson(await witness(req.wasm, req.input));
      const n = req.outputs ?? 3;
      return { outputs: w.slice(1, 1 + n).map((x) => x.toString()) };
    }
    case "prove": {
      const t0 = Date.now();
      const wtns = await witness(req.wasm, req.input);
      const { proof, publicSignals } = await snarkjs.groth16.prove(req.zkey, wtns);
      return { proof, publicSignals, ms: Date.now() - t0 };
    }
    case "verify":
      return { ok: await snarkjs.groth16.verify(vkey(req.vkey), req.publicSignals, req.proof, { info() {}, debug() {}, warn() {}, error() {} }) };
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let req = {};
    try {
      req = JSON.parse(line);
      const reply = await handle(req);
      process.stdout.write(JSON.stringify({ id: req.id, ...reply }) + "\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ id: req.id, error: String(err && err.message ? err.message : err) }) + "\n");
    }
  });
});
lines.on("close", () => queue.then(() => process.exit(0)));
