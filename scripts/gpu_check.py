"""Run the GPU layer (tests/gpu) on a fresh GPU machine that reaches no package index.

Such a machine (a lent one: ../shared/docs/environment.md) has torch with CUDA, transformers,
pyarrow, pandas, httpx, click, jinja2, xxhash and fsspec, but not datasets, dill or
multiprocess (nor math-verify or vLLM, which tests/gpu does not use). So the pure-Python wheels
tests/gpu needs beyond that travel with the checkout in `.wheelhouse/` (ignored by git):

  .venv/bin/python scripts/gpu_check.py fill   # here: download them (pip download --no-deps)
  bash scripts/gpu_check.sh                    # there: one command, under 5 minutes

`run` (what gpu_check.sh calls) makes a venv that sees the machine's packages
(--system-site-packages), installs the wheelhouse there with `pip install --no-index
--no-deps`, then dart-hf from the checkout with --no-deps (built by the carried hatchling),
prints every version it finds beside the one CI tests, checks the requirements that tests/gpu
relies on, and runs `pytest tests/gpu`. It fails when a needed package is missing or too old,
when a CUDA test fails or skips, and (unless ALLOW_NO_CUDA=1) when no CUDA device is visible.
With $OUT set (the device tool's output folder) the log and a JUnit report go there.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = REPO / ".wheelhouse"
MANIFEST = WHEELHOUSE / "manifest.json"
CONSTRAINTS = REPO / "scripts" / "constraints-cpu.txt"
LIMIT_BYTES = 64 * 2**20  # what a device call carries in all
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PER_PYTHON = ("multiprocess", "regex")  # wheels tagged per Python version: one for each

# name, version (None: constraints-cpu.txt, else this venv's), when to install it there:
# "always"; "missing": only where the machine lacks it; "older": where it lacks it or has an
# older one (the machine's transformers stack may predate dart-hf's floors)
WHEELS: list[tuple[str, str | None, str]] = [
    ("datasets", None, "always"),
    ("dill", None, "always"),  # datasets' pickler; absent there
    ("multiprocess", None, "always"),  # datasets' map workers
    ("accelerate", None, "missing"),  # the Trainer needs it; the machine's own where present
    ("psutil", None, "missing"),  # accelerate's
    ("transformers", None, "older"),  # dart-hf's floor (5.19.0) and what it needs in turn:
    ("tokenizers", None, "older"),
    ("safetensors", None, "older"),
    ("huggingface_hub", None, "older"),
    ("regex", "2025.10.22", "older"),  # transformers 5.19's floor (wheels for every Python)
    ("click", None, "older"),  # huggingface_hub's
    ("httpx2", None, "missing"),  # huggingface_hub 2's client, with its own needs:
    ("httpcore2", None, "missing"),
    ("truststore", None, "missing"),
    ("h11", None, "missing"),
    ("anyio", None, "missing"),
    ("idna", None, "missing"),
    ("pytest", None, "always"),
    ("pytest-timeout", None, "always"),  # the per-layer time limits (tests/conftest.py)
    ("iniconfig", None, "always"),
    ("pluggy", None, "always"),
    ("pygments", None, "always"),
    ("packaging", None, "always"),
    ("hatchling", "1.33.0", "always"),  # builds dart-hf from the checkout, offline
    ("pathspec", None, "always"),
    ("trove-classifiers", "2026.9.21.13", "always"),
]
SHOWN = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "huggingface_hub",
    "accelerate",
    "datasets",
    "dill",
    "multiprocess",
    "pyarrow",
    "pandas",
    "numpy",
    "fsspec",
    "xxhash",
    "filelock",
    "pyyaml",
    "tqdm",
    "regex",
    "jinja2",
    "click",
    "httpx",
    "httpx2",
    "psutil",
    "packaging",
    "pytest",
    "pytest-timeout",
    "dart-hf",
)
NEEDED_BY = ("datasets", "accelerate", "transformers", "pytest", "pytest-timeout")
"""Distributions whose requirements must all hold (dart-hf's own are shown, not enforced:
tests/gpu imports only its engines, packing, training, models and prompts)."""
NOT_NEEDED = ("typer", "hf-xet")
"""Requirements tests/gpu never reaches: transformers' command line, the Hub's xet transfers."""
IMPORTS = (
    "torch",
    "transformers",
    "tokenizers",
    "huggingface_hub",
    "datasets",
    "accelerate",
    "pytest",
    "pytest_timeout",
    "dart_hf.engines.hf_engine",
    "dart_hf.training.packing",
    "dart_hf.training.train",
)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_norm(name)] = version.strip()
    return pins


def _version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- fill (here)


def fill() -> int:
    """Download the wheels (no dependencies) into .wheelhouse/ and write its manifest."""
    pins = _pins()
    if WHEELHOUSE.exists():
        shutil.rmtree(WHEELHOUSE)
    WHEELHOUSE.mkdir()
    entries = []
    for name, version, when in WHEELS:
        version = version or pins.get(_norm(name)) or _version(name)
        if version is None:
            print(f"no version for {name}: not pinned and not installed here", file=sys.stderr)
            return 2
        spec = f"{name}=={version}"
        targets: list[tuple[str | None, Path]] = []
        for py in PYTHONS if name in PER_PYTHON else (None,):
            dest = WHEELHOUSE / (f"py{py}" if py else "")
            dest.mkdir(exist_ok=True)
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
                "-d",
                str(dest),
                spec,
            ]
            if py:
                cmd[4:4] = ["--python-version", py]
            if subprocess.run(cmd).returncode != 0:
                print(f"cannot download {spec}{f' for Python {py}' if py else ''}", file=sys.stderr)
                return 2
            targets += [(py, f) for f in dest.glob("*.whl") if _norm(f.name).startswith(_norm(name) + "-")]
        for py, f in targets:
            entries.append(
                {
                    "name": name,
                    "version": version,
                    "install": when,
                    "python": py,
                    "file": str(f.relative_to(WHEELHOUSE)),
                    "bytes": f.stat().st_size,
                    "sha256": _sha256(f),
                }
            )
    total = sum(e["bytes"] for e in entries)
    MANIFEST.write_text(json.dumps({"wheels": entries, "bytes": total}, indent=1) + "\n")
    for e in entries:
        print(f"{e['file']:70} {e['bytes'] / 1024:8.0f} KiB  install: {e['install']}")
    print(f"{len(entries)} wheels, {total / 2**20:.2f} MiB in {WHEELHOUSE} (limit 64 MiB)")
    return 0 if total <= LIMIT_BYTES else 2


# --------------------------------------------------------------------------- run (there)

REPORT = r"""
import importlib, importlib.metadata as md, json, sys
from packaging.requirements import Requirement
shown, needed, not_needed, imports, ci = json.loads(sys.argv[1])
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
problems, rows = [], []
for name in shown:
    found = version(name)
    want = ci.get(name.lower().replace("_", "-"))
    rows.append((name, found or "-", want or "", "" if not want or found == want else "differs"))
env = {"python_version": ".".join(map(str, sys.version_info[:2])), "extra": ""}
for dist in needed:
    try:
        requires = md.requires(dist) or []
    except md.PackageNotFoundError:
        problems.append(f"{dist} is not installed")
        continue
    for text in requires:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env) or req.name in not_needed:
            continue
        found = version(req.name)
        if found is None or (req.specifier and not req.specifier.contains(found, prereleases=True)):
            problems.append(f"{dist} needs {req}: found {found or 'nothing'}")
for text in md.requires("dart-hf") or []:
    req = Requirement(text)
    if req.marker is None:
        found = version(req.name)
        if found is None or not req.specifier.contains(found, prereleases=True):
            rows.append((f"(dart-hf) {req}", found or "-", "", "unmet; tests/gpu does not use it"
                         if req.name in ("math-verify", "matplotlib", "antlr4-python3-runtime")
                         else "unmet"))
for module in imports:
    try:
        importlib.import_module(module)
    except Exception as exc:
        problems.append(f"import {module}: {type(exc).__name__}: {exc}")
try:
    import torch
except ImportError as exc:
    print("PROBLEM: no torch:", exc)
    json.dump({"cuda": False, "problems": [f"no torch: {exc}"]}, open(sys.argv[2], "w"))
    raise SystemExit(0)
cuda = torch.cuda.is_available()
print(f"{'package':32} {'found':24} {'CI tests':16}")
for name, found, want, note in rows:
    print(f"{name:32} {found:24} {want:16} {note}")
device = torch.cuda.get_device_name(0) if cuda else "none visible"
print(f"python {sys.version.split()[0]}; torch {torch.__version__}, "
      f"CUDA build {torch.version.cuda}, device: {device}"
      + (f", bf16: {torch.cuda.is_bf16_supported()}" if cuda else ""))
for p in problems:
    print("PROBLEM:", p)
json.dump({"cuda": cuda, "problems": problems}, open(sys.argv[2], "w"))
"""


def _say(msg: str) -> None:
    print(f"== {msg}", flush=True)


def _venv(path: Path) -> Path:
    """A venv that sees the machine's packages; its python. Where this Python already runs in
    a venv (whose packages a nested venv would not see), that venv itself."""
    if sys.prefix != sys.base_prefix:
        _say(f"running in the venv {sys.prefix}: installing into it")
        return Path(sys.executable)
    python = path / "bin" / "python"
    if python.exists():
        return python
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)])
    if made.returncode != 0 or not python.exists():  # no ensurepip: pip from outside, --python
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], check=True
        )
    return python


def _pip(python: Path, *args: str) -> None:
    has_pip = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True)
    cmd = (
        [str(python), "-m", "pip"]
        if has_pip.returncode == 0
        else [sys.executable, "-m", "pip", "--python", str(python)]
    )
    subprocess.run(
        [*cmd, "install", "--no-index", "--no-deps", "--disable-pip-version-check", "-q", *args], check=True
    )


def _installed(python: Path, name: str) -> str | None:
    """The version of `name` that `python` sees (None: not installed)."""
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _older(have: str, wheel: str) -> bool:
    """Whether version `have` is older than `wheel` (release numbers; a local or dev suffix
    of `have` counts as the release it names)."""

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v.split("+")[0])[:4])

    return key(have) < key(wheel)


def run(venv: Path, out: Path | None) -> int:
    started = time.monotonic()
    if not MANIFEST.is_file():
        print(
            f"no {MANIFEST}: run `.venv/bin/python scripts/gpu_check.py fill` where pip can "
            'reach an index, and carry .wheelhouse along (device tool: carry=[".wheelhouse"])'
        )
        return 2
    manifest = json.loads(MANIFEST.read_text())
    _say(f"machine: {platform.platform()}, python {platform.python_version()}")
    python = _venv(venv)
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    files = []
    for e in manifest["wheels"]:
        if e["python"] not in (None, py):
            continue
        f = WHEELHOUSE / e["file"]
        if _sha256(f) != e["sha256"]:
            print(f"{f}: not the file the manifest names (sha256)")
            return 2
        have = _installed(python, e["name"])
        if e["install"] == "missing" and have is not None:
            continue
        if e["install"] == "older" and have is not None and not _older(have, e["version"]):
            continue
        files.append(str(f))
    _say(f"install {len(files)} wheels for {python} (--no-index --no-deps)")
    _pip(python, *files)
    _say("install dart-hf from the checkout (--no-deps, built offline by hatchling)")
    _pip(python, "--no-build-isolation", str(REPO))
    _say("versions")
    ci = {
        **{_norm(n): v for n, v in _pins().items()},
        **{_norm(e["name"]): e["version"] for e in manifest["wheels"]},
    }
    status = (out or REPO) / "gpu_check_status.json"
    args = json.dumps([SHOWN, NEEDED_BY, NOT_NEEDED, IMPORTS, ci])
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONNOUSERSITE": "1",
    }
    neutral = str(out or Path(tempfile.gettempdir()))  # the installed dart-hf, not the checkout's
    subprocess.run([str(python), "-c", REPORT, args, str(status)], env=env, cwd=neutral, check=True)
    report = json.loads(status.read_text())
    if report["problems"]:
        _say("stopped: the machine lacks what tests/gpu needs (PROBLEM lines above)")
        return 2
    if not report["cuda"] and os.environ.get("ALLOW_NO_CUDA") != "1":
        _say("stopped: no CUDA device visible (ALLOW_NO_CUDA=1 runs the CPU twins alone)")
        return 3
    _say("pytest tests/gpu")
    junit = (out or REPO) / "gpu-junit.xml"
    cmd = [
        str(python),
        "-m",
        "pytest",
        "tests/gpu",
        "-p",
        "no:cacheprovider",
        "-v",
        "-rs",
        "--durations=10",
        f"--junitxml={junit}",
    ]
    left = max(60.0, 290 - (time.monotonic() - started))  # the whole check: under 5 minutes
    code = subprocess.run(cmd, env=env, cwd=REPO, timeout=left).returncode
    cases = re.findall(
        r'<testcase [^>]*name="([^"]+)"[^>]*?(/>|>(.*?)</testcase>)', junit.read_text(encoding="utf-8"), re.S
    )
    cuda_cases = {name: body for name, _, body in cases if name.endswith("[cuda]")}
    took = time.monotonic() - started
    _say(f"{len(cases)} tests, {len(cuda_cases)} on cuda, exit {code}, {took:.0f} s in all")
    if report["cuda"]:
        not_run = [
            n
            for n, body in cuda_cases.items()
            if "<skipped" in body or "<failure" in body or "<error" in body
        ]
        if not_run or len(cuda_cases) < 3:
            _say(f"a CUDA test did not pass: {not_run or 'fewer than 3 collected'}")
            return 1
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fill", help="download the wheels into .wheelhouse/ (here)")
    go = sub.add_parser("run", help="install and run tests/gpu (on the GPU machine)")
    go.add_argument("--venv", default=os.environ.get("GPU_CHECK_VENV", "/tmp/dart-hf-gpu-venv"))
    args = parser.parse_args()
    if args.command == "fill":
        return fill()
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    return run(Path(args.venv), out)


if __name__ == "__main__":
    sys.exit(main())
