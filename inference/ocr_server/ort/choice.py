"""Which engine and graph ``auto`` means, per model and device.

The CPU defaults are the fastest engines that keep the accuracy bounds of issue 15 against
torch float32 (CER within 0.003, 98% of line boxes at IoU >= 0.9), measured in
tests/inference/ocr/test_onnx_accuracy.py and bench/ocr.py:

* detection: measured at the first start (:func:`detector_candidates`, the timing in
  detectors/measured.py): the float32 ONNX graph, and torch bfloat16 (frozen,
  channels-last) on CPUs with bfloat16 instructions, and torch float32 with Winograd 3x3
  convolutions (``winograd``, NNPACK) wherever NNPACK runs; on an AMX Xeon bf16 is 4-6x eager
  float32 with the same boxes, on an AVX-512 BF16 EPYC about even with the float32 graph.
  int8 CRAFT is faster still but moves a few line boxes (37-39 of 40 at IoU >= 0.9 on the
  20-line benchmark pages), so it is no candidate;
* recognition: the int8 ONNX CRNN (its convolutions and linear layers; same text).

On CUDA the float32 graph runs (TensorRT may take it to fp16), or torch at the placement's
precision where onnxruntime has no CUDA provider.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from inference.device import Placement, cpu_has_bf16
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


def detector_candidates(engine: str, precision: str, placement: Placement) -> list[tuple[str, str]]:
    """The (engine, precision) pairs ``auto`` may mean on a CPU, timed at start-up.

    Each is held to torch float32's boxes and text in the accuracy tests
    (tests/inference/ocr/test_onnx_accuracy.py): the float32 graph everywhere, torch
    bfloat16 where the CPU has bfloat16 instructions, torch float32 with Winograd
    convolutions where NNPACK runs. Empty when the settings (or the device) leave nothing
    to measure.
    """
    if engine != "auto" or precision != "auto" or placement.device != "cpu":
        return []
    candidates = [("craft-onnx", "fp32")] if onnx_usable(placement) else [("craft", "fp32")]
    if cpu_has_bf16():
        candidates.append(("craft", "bf16"))
    from inference.ocr_server.detectors import nnpack

    if nnpack.available():
        candidates.append(("craft", "winograd"))
    return candidates


def resolve_engine(engine: str, placement: Placement, torch_name: str) -> str:
    """``auto`` -> ``<torch_name>-onnx`` where usable, else the torch engine."""
    if engine != "auto":
        return engine
    return f"{torch_name}-onnx" if onnx_usable(placement) else torch_name


def resolve_detector(engine: str, precision: str, placement: Placement) -> tuple[str, str]:
    """The detector engine and precision that ``engine`` / ``precision`` mean here, where
    nothing is measured (:func:`detector_candidates` is empty): ``bf16`` is torch's;
    otherwise ``auto`` is the ONNX engine where usable (:func:`resolve_engine`)."""
    if engine != "auto":
        return engine, precision
    if precision in ("bf16", "winograd"):
        return "craft", precision
    return resolve_engine(engine, placement, "craft"), precision


def resolve_precision(model: Model, precision: str, placement: Placement) -> Precision:
    if precision == "int8-backbone" and model == "crnn":
        return "int8"  # the CRNN's int8 already keeps its recurrent layers in float32
    if precision in ("bf16", "winograd"):
        raise ValueError(f"{precision} is a torch precision; the ONNX graphs are fp32 or int8")
    if precision != "auto":
        return precision  # type: ignore[return-value]
    return CPU_DEFAULT[model] if placement.device == "cpu" else "fp32"


def graph_for(
    model: Model, weights: Path, precision: str, placement: Placement, cache_dir: Path
) -> tuple[Path, Precision]:
    """The cached (or newly exported) graph to run, and its precision."""
    chosen = resolve_precision(model, precision, placement)
    return onnx_model(model, weights, chosen, cache_dir), chosen
