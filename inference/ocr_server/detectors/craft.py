"""The in-process CRAFT detector: pages in, word quadrilaterals out, batched."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from inference.device import Placement
from inference.ocr_server.detectors.craft_net import load_craft
from inference.ocr_server.detectors.postprocess import (
    FloatArray,
    Thresholds,
    boxes_from_maps,
    prepare_batch,
)

log = logging.getLogger(__name__)


class CraftDetector:
    name = "craft_mlt_25k"

    def __init__(
        self,
        weights: Path,
        placement: Placement,
        *,
        canvas_size: int = 1280,
        mag_ratio: float = 1.0,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.placement = placement
        self.canvas_size = canvas_size
        self.mag_ratio = mag_ratio
        self.thresholds = thresholds or Thresholds()
        self._dtype = torch.float16 if placement.half else torch.float32
        self._model = load_craft(weights).to(placement.device, self._dtype)
        log.info("detector loaded", extra={"model": self.name, "device": placement.device})

    def detect(self, pages: list[npt.NDArray[np.uint8]]) -> list[list[FloatArray]]:
        batch, resized = prepare_batch(pages, self.canvas_size, self.mag_ratio)
        return boxes_from_maps(self.forward(batch), resized, self.thresholds)

    def forward(self, batch: FloatArray) -> FloatArray:
        """Score maps (N, H/2, W/2, 2) of a prepared batch (N, 3, H, W)."""
        with torch.inference_mode():
            scores = self._model(torch.from_numpy(batch).to(self.placement.device, self._dtype))
        maps: FloatArray = scores.float().cpu().numpy()
        return maps

    def describe(self) -> dict[str, object]:
        return {
            "id": self.name,
            "role": "detector",
            "device": self.placement.device,
            "canvas_size": self.canvas_size,
        }
