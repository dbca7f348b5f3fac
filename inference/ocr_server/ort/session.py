"""ONNX Runtime sessions: TensorRT, then CUDA, then CPU execution providers, as present.

On a CPU node only the CPU provider exists. On a GPU node (``onnxruntime-gpu``) a CUDA
placement asks for TensorRT (fp16 when the placement is half, engines cached beside the
ONNX file) and CUDA, each only if this onnxruntime build has it; asking for CUDA with a
build that has neither is an error the operator can read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from inference.device import Placement
from inference.errors import ModelNotReady

log = logging.getLogger(__name__)


def has_cuda_provider() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def providers(placement: Placement, model_path: Path) -> list[Any]:
    """The provider list for ``placement``, best first, CPU last."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen: list[Any] = []
    if placement.device == "cuda":
        device_id = _cuda_device()
        if "TensorrtExecutionProvider" in available:
            options = {
                "device_id": device_id,
                "trt_fp16_enable": placement.half,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(model_path.parent / "tensorrt"),
            }
            chosen.append(("TensorrtExecutionProvider", options))
        if "CUDAExecutionProvider" in available:
            chosen.append(("CUDAExecutionProvider", {"device_id": device_id}))
        if not chosen:
            raise ModelNotReady(
                "device=cuda, but this onnxruntime has no CUDA provider "
                "(install onnxruntime-gpu, or choose the torch engine)"
            )
    chosen.append("CPUExecutionProvider")
    return chosen


def create_session(model_path: Path, placement: Placement, threads: int = 0) -> Any:
    """An inference session for ``model_path``; ``threads`` 0 lets onnxruntime choose."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_path), sess_options=options, providers=providers(placement, model_path)
    )
    log.info(
        "onnx session ready",
        extra={"model": model_path.name, "providers": session.get_providers()},
    )
    return session


def _cuda_device() -> int:
    import torch

    return int(torch.cuda.current_device()) if torch.cuda.is_available() else 0
