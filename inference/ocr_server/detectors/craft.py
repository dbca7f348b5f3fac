"""The in-process CRAFT detector: pages in, word quadrilaterals out, batched.

Precisions: ``fp32``; ``fp16`` (CUDA half placements); ``bf16``, which on a CPU runs the
network channels-last and frozen by TorchScript so oneDNN fuses each convolution with its
ReLU and keeps the weights packed (on CPUs with AMX this is the fastest CRAFT that keeps
torch float32's boxes, see docs/ocr.md); ``winograd`` (CPU), float32 with Winograd 3x3
convolutions (:mod:`.craft_winograd`), the fastest float32 CRAFT on CPUs without bf16.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from inference.device import Placement, cpu_has_bf16
from inference.ocr_server.detectors.craft_net import load_craft
from inference.ocr_server.detectors.postprocess import (
    FloatArray,
    Thresholds,
    boxes_from_maps,
    prepare_batch,
)

log = logging.getLogger(__name__)

TORCH_PRECISIONS = ("auto", "fp32", "fp16", "bf16", "winograd")
_DTYPES = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "winograd": torch.float32,
}


def torch_precision(precision: str, placement: Placement) -> str:
    """``auto`` -> the placement's (fp16 on a half CUDA placement, else fp32)."""
    if precision not in TORCH_PRECISIONS:
        raise ValueError(
            f"precision {precision!r} is not one of the torch CRAFT's {TORCH_PRECISIONS} "
            "(int8 graphs run on craft-onnx)"
        )
    if precision == "auto":
        return "fp16" if placement.half else "fp32"
    if precision == "winograd" and placement.device != "cpu":
        raise ValueError("winograd CRAFT runs on a CPU (NNPACK); on a GPU use fp16 or fp32")
    return precision


def frozen_channels_last(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``model`` in ``dtype``, channels-last, traced and frozen (any input size works:
    the trace keeps the interpolation sizes as shape ops)."""
    model = model.to(dtype).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    example = torch.zeros(1, 3, 320, 320, dtype=dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        traced = torch.jit.trace(model, example, check_trace=False)  # type: ignore[no-untyped-call]
        frozen: nn.Module = torch.jit.freeze(traced)
        frozen(example)  # the first runs optimise the graph
        frozen(example)
    return frozen


class CraftDetector:
    name = "craft_mlt_25k"

    def __init__(
        self,
        weights: Path,
        placement: Placement,
        *,
        precision: str = "auto",
        canvas_size: int = 1280,
        mag_ratio: float = 1.0,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.placement = placement
        self.precision = torch_precision(precision, placement)
        self.canvas_size = canvas_size
        self.mag_ratio = mag_ratio
        self.thresholds = thresholds or Thresholds()
        self._dtype = _DTYPES[self.precision]
        self._channels_last = self.precision == "bf16" and placement.device == "cpu"
        model = load_craft(weights)
        if self._channels_last and not cpu_has_bf16():
            log.warning(
                "bf16 CRAFT on a CPU without bfloat16 instructions is emulated: "
                "tens of seconds a page (precision auto measures what is fastest here)"
            )
        if self._channels_last:
            self._model = frozen_channels_last(model, self._dtype)
        elif self.precision == "winograd":
            from inference.ocr_server.detectors.craft_winograd import winograd_craft

            self._model = winograd_craft(model)
        else:
            self._model = model.to(placement.device, self._dtype)
        log.info(
            "detector loaded",
            extra={"model": self.name, "device": placement.device, "precision": self.precision},
        )

    def detect(self, pages: list[npt.NDArray[np.uint8]]) -> list[list[FloatArray]]:
        batch, resized = prepare_batch(pages, self.canvas_size, self.mag_ratio)
        return boxes_from_maps(self.forward(batch), resized, self.thresholds)

    def forward(self, batch: FloatArray) -> FloatArray:
        """Score maps (N, H/2, W/2, 2) of a prepared batch (N, 3, H, W)."""
        with torch.inference_mode():
            images = torch.from_numpy(batch).to(self.placement.device, self._dtype)
            if self._channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            scores = self._model(images)
        maps: FloatArray = scores.float().cpu().numpy()
        return maps

    def describe(self) -> dict[str, object]:
        return {
            "id": self.name,
            "role": "detector",
            "device": self.placement.device,
            "engine": f"torch-{self.precision}",
            "canvas_size": self.canvas_size,
        }
