"""ONNX files in a cache keyed by the weights' hash: exported once, then only opened.

``model-<sha256 of the weights, 16 hex>-<recipe>-<precision>.onnx``. The recipe names the
exporter, opset and calibration, and ``r7`` for int8 graphs with 7-bit weights (CPUs
without VNNI, see quantize.py), so changing any of them (or the weights) gives a new
file; an unchanged one is never written again. Writers take a file lock and rename into
place, so servers starting together export once and never read half a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from inference.ocr_server.ort.graphs import OPSET, Model

log = logging.getLogger(__name__)

Precision = Literal["fp32", "int8", "int8-backbone"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8", "int8-backbone")
# Bump when export.py or quantize.py change what they write.
RECIPE = f"o{OPSET}r2"


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "study-savvy" / "onnx"


def weights_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def reduced_range() -> bool:
    """Int8 graphs keep 7-bit weights on this CPU (no VNNI: quantize.py)."""
    from inference.device import cpu_has_int8_dot

    return not cpu_has_int8_dot()


def cache_path(model: Model, weights: Path, precision: Precision, cache_dir: Path) -> Path:
    recipe = RECIPE
    if precision != "fp32":
        from inference.ocr_server.ort.calibration import font_name

        recipe += "-" + font_name().removesuffix(".ttf").lower()
        recipe += "-r7" if reduced_range() else ""
    return cache_dir / f"{model}-{weights_digest(weights)}-{recipe}-{precision}.onnx"


def onnx_model(model: Model, weights: Path, precision: Precision, cache_dir: Path) -> Path:
    """The cached ONNX file of ``model`` at ``precision``, exported (or quantized) if new."""
    path = cache_path(model, weights, precision, cache_dir)
    if path.exists():
        log.info("onnx model cached", extra={"path": str(path)})
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f".{path.name}.lock"):
        if path.exists():  # another process made it while we waited
            return path
        started = time.perf_counter()
        if precision == "fp32":
            from inference.ocr_server.ort.export import export_onnx

            _write_atomic(path, export_onnx(model, weights))
        else:
            from inference.ocr_server.ort.quantize import quantize

            source = onnx_model(model, weights, "fp32", cache_dir)
            reduce = reduced_range()
            _write_atomic(path, quantize(model, source, precision, reduce_range=reduce))
        log.info(
            "onnx model exported",
            extra={"path": str(path), "seconds": round(time.perf_counter() - started, 1)},
        )
    return path


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
