"""CRAFT on ONNX Runtime (``craft-onnx``): the same pre- and post-processing as ``craft``.

The graph is exported from the same state dict (:mod:`inference.ocr_server.ort`), float32
or int8; pages of a batch are padded to a common size as for torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference.device import Placement
from inference.ocr_server.detectors.postprocess import (
    FloatArray,
    Thresholds,
    boxes_from_maps,
    prepare_batch,
)
from inference.ocr_server.ort.graphs import CRAFT_INPUT
from inference.ocr_server.ort.session import create_session

log = logging.getLogger(__name__)


class CraftOnnxDetector:
    def __init__(
        self,
        model_path: Path,
        placement: Placement,
        *,
        precision: str,
        canvas_size: int = 1280,
        mag_ratio: float = 1.0,
        thresholds: Thresholds | None = None,
        threads: int = 0,
    ) -> None:
        # The model's id is the weights' (as for torch); the engine is in describe().
        self.name = "craft_mlt_25k"
        self.placement = placement
        self.precision = precision
        self.canvas_size = canvas_size
        self.mag_ratio = mag_ratio
        self.thresholds = thresholds or Thresholds()
        self.model_path = model_path
        self._session = create_session(model_path, placement, threads)
        log.info("detector loaded", extra={"model": self.name, "device": placement.device})

    def detect(self, pages: list[npt.NDArray[np.uint8]]) -> list[list[FloatArray]]:
        batch, resized = prepare_batch(pages, self.canvas_size, self.mag_ratio)
        return boxes_from_maps(self.forward(batch), resized, self.thresholds)

    def forward(self, batch: FloatArray) -> FloatArray:
        """Score maps (N, H/2, W/2, 2) of a prepared batch (N, 3, H, W)."""
        (maps,) = self._session.run(None, {CRAFT_INPUT: batch})
        result: FloatArray = maps
        return result

    def describe(self) -> dict[str, object]:
        return {
            "id": self.name,
            "role": "detector",
            "device": self.placement.device,
            "engine": f"onnx-{self.precision}",
            "providers": self._session.get_providers(),
            "canvas_size": self.canvas_size,
            "onnx": self.model_path.name,
        }
