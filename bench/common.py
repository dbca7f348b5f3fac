"""Helpers every benchmark uses: where results go, and how they are written."""

from __future__ import annotations

import fcntl
import json
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

RESULTS = Path(__file__).resolve().parent / "results"


class BenchSettings(BaseSettings):
    """What every benchmark shares (``BENCH_`` variables)."""

    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore")

    # Appended to each result's name (``asr-avx2.json``): a run under an emulated CPU
    # class (`make bench-classes`) keeps the native run's files.
    results_tag: str = ""
    # The recognizer bench/handwriting.py measures (make handwriting-model writes it).
    handwriting_model: Path = Path("var/handwriting/crnn.pth")


def _stem(name: str) -> str:
    tag = BenchSettings().results_tag
    return f"{name}-{tag}" if tag else name


LOCK = Path("/tmp/cpu-bench.lock")  # noqa: S108 - the lock every bench of this machine takes


@contextmanager
def bench_lock() -> Iterator[None]:
    """The machine's bench lock, held for one timed measurement (or a whole run), so that
    no other benchmark runs beside it and the lock is never held while idle."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def machine() -> dict[str, Any]:
    import os

    from inference.tuning import cpu_model, isa_caps

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_flags": _cpu_flags(),
        # The instruction-set caps this run was held to (empty: the CPU's own class).
        "isa_caps": {name: value for name, value in isa_caps().items() if value},
    }
    try:
        import torch

        info["cuda"] = torch.cuda.is_available()
        if info["cuda"]:
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["cuda"] = False
    return info


def _cpu_flags() -> list[str]:
    """The flags that decide the engines: AMX, AVX-512 (BF16, VNNI), AVX2."""
    from inference.tuning import cpu_flags

    wanted = ("amx_tile", "amx_bf16", "avx512f", "avx512_bf16", "avx512_vnni", "avx2", "avx_vnni")
    flags = cpu_flags()
    return [flag for flag in wanted if flag in flags]


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine and time of the run added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{_stem(name)}.json"
    document: dict[str, Any] = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    document["machine"] = machine()
    document.update(payload)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def png_path(name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{_stem(name)}.png"


def new_figure(*args: Any, **kwargs: Any) -> Any:
    """A matplotlib figure on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)
