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
    resize_for_craft,
    stack_padded,
    to_page_coordinates,
    word_boxes,
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
        resized = [resize_for_craft(page, self.canvas_size, self.mag_ratio) for page in pages]
        batch = torch.from_numpy(stack_padded([r.image for r in resized]))
        with torch.inference_mode():
            scores = self._model(batch.to(self.placement.device, self._dtype))
        maps = scores.float().cpu().numpy()
        results: list[list[FloatArray]] = []
        for page_maps, page in zip(maps, resized, strict=True):
            # Only the part of the map that covers this page, not the batch padding.
            h = -(-page.image.shape[0] // 2)
            w = -(-page.image.shape[1] // 2)
            boxes = word_boxes(page_maps[:h, :w, 0], page_maps[:h, :w, 1], self.thresholds)
            results.append(to_page_coordinates(boxes, page.scale))
        return results

    def describe(self) -> dict[str, object]:
        return {
            "id": self.name,
            "role": "detector",
            "device": self.placement.device,
            "canvas_size": self.canvas_size,
        }
