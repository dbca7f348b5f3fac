"""Which engine and graph ``auto`` means, per model and device.

The CPU defaults are the fastest graphs that keep the accuracy bounds of the issue against
torch float32 on the test pages (CER within 0.003, 98% of line boxes at IoU >= 0.9):
measured in tests/inference/ocr/test_onnx_accuracy.py and bench/ocr.py. On CUDA the
float32 graph runs (TensorRT may take it to fp16).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from inference.device import Placement
from inference.ocr_server.ort.cache import Precision, onnx_model
from inference.ocr_server.ort.graphs import Model

# int8 CRAFT keeps the CER but not the boxes on 20-line 1280x960 pages (18-19 of 20 torch
# lines at IoU >= 0.9, worst 0.84; int8-backbone the same), so CPUs run float32 graphs.
CPU_DEFAULT: dict[Model, Precision] = {"craft": "fp32", "crnn": "fp32"}


def onnx_usable(placement: Placement) -> bool:
    """onnxruntime is installed and has a provider for ``placement``'s device."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    if placement.device == "cpu":
        return True
    from inference.ocr_server.ort.session import has_cuda_provider

    return has_cuda_provider()


def resolve_engine(engine: str, placement: Placement, torch_name: str) -> str:
    """``auto`` -> ``<torch_name>-onnx`` where usable, else the torch engine."""
    if engine != "auto":
        return engine
    return f"{torch_name}-onnx" if onnx_usable(placement) else torch_name


def resolve_precision(model: Model, precision: str, placement: Placement) -> Precision:
    if precision == "int8-backbone" and model == "crnn":
        return "int8"  # the CRNN's int8 already keeps its recurrent layers in float32
    if precision != "auto":
        return precision  # type: ignore[return-value]
    return CPU_DEFAULT[model] if placement.device == "cpu" else "fp32"


def graph_for(
    model: Model, weights: Path, precision: str, placement: Placement, cache_dir: Path
) -> tuple[Path, Precision]:
    """The cached (or newly exported) graph to run, and its precision."""
    chosen = resolve_precision(model, precision, placement)
    return onnx_model(model, weights, chosen, cache_dir), chosen
