"""Which engine and graph ``auto`` means, per model and device.

The CPU defaults are the fastest engines that keep the accuracy bounds of issue 15 against
torch float32 (CER within 0.003, 98% of line boxes at IoU >= 0.9), measured in
tests/inference/ocr/test_onnx_accuracy.py and bench/ocr.py:

* detection: torch bfloat16 (frozen, channels-last) on CPUs with AMX, whose bf16 tiles
  make it 4-6x faster than eager float32 with the same boxes; elsewhere the float32 ONNX
  graph (int8 CRAFT is faster still but moves a few line boxes: 37-39 of 40 at IoU >= 0.9
  on the 20-line benchmark pages, whatever the calibration tried);
* recognition: the int8 ONNX CRNN (its convolutions and linear layers; same text).

On CUDA the float32 graph runs (TensorRT may take it to fp16), or torch at the placement's
precision where onnxruntime has no CUDA provider.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from inference.device import Placement
from inference.ocr_server.ort.cache import Precision, onnx_model
from inference.ocr_server.ort.graphs import Model

log = logging.getLogger(__name__)

# The graph each ONNX engine runs on a CPU when its precision is auto.
CPU_DEFAULT: dict[Model, Precision] = {"craft": "fp32", "crnn": "int8"}


def onnx_usable(placement: Placement) -> bool:
    """onnxruntime is installed and has a provider for ``placement``'s device."""
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    if placement.device == "cpu":
        return True
    from inference.ocr_server.ort.session import has_cuda_provider

    return has_cuda_provider()


def cpu_has_amx() -> bool:
    """The CPU has AMX tiles (bf16 matrix units), so bf16 convolutions are fast."""
    import torch

    try:
        mkldnn = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
        return bool(mkldnn and torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without the probe: assume not
        return False


def resolve_engine(engine: str, placement: Placement, torch_name: str) -> str:
    """``auto`` -> ``<torch_name>-onnx`` where usable, else the torch engine."""
    if engine != "auto":
        return engine
    return f"{torch_name}-onnx" if onnx_usable(placement) else torch_name


def resolve_detector(engine: str, precision: str, placement: Placement) -> tuple[str, str]:
    """The detector engine and precision that ``engine`` / ``precision`` mean here.

    ``auto`` engine with ``auto`` (or ``bf16``) precision on an AMX CPU is torch bf16;
    otherwise ``auto`` is the ONNX engine where usable (:func:`resolve_engine`).
    """
    if engine != "auto":
        return engine, precision
    amx_default = precision == "auto" and placement.device == "cpu" and cpu_has_amx()
    if precision == "bf16" or amx_default:
        return "craft", "bf16"
    return resolve_engine(engine, placement, "craft"), precision


def resolve_precision(model: Model, precision: str, placement: Placement) -> Precision:
    if precision == "int8-backbone" and model == "crnn":
        return "int8"  # the CRNN's int8 already keeps its recurrent layers in float32
    if precision == "bf16":
        raise ValueError("bf16 is a torch precision; the ONNX graphs are fp32 or int8")
    if precision != "auto":
        return precision  # type: ignore[return-value]
    return CPU_DEFAULT[model] if placement.device == "cpu" else "fp32"


def graph_for(
    model: Model, weights: Path, precision: str, placement: Placement, cache_dir: Path
) -> tuple[Path, Precision]:
    """The cached (or newly exported) graph to run, and its precision."""
    chosen = resolve_precision(model, precision, placement)
    return onnx_model(model, weights, chosen, cache_dir), chosen
