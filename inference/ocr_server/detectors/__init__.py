"""Page detectors: RGB pages in, word quadrilaterals (4, 2) in page pixels out.

``create_detector`` accepts only known names; the Triton detector lives in
``inference.ocr_server.detectors.triton`` and is imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from inference.device import Placement
from inference.ocr_server.detectors.postprocess import FloatArray, Thresholds
from inference.ocr_server.plugins import load_plugin

if TYPE_CHECKING:
    from inference.ocr_server.settings import OcrSettings

ENGINES = ("craft", "triton")


class PageDetector(Protocol):
    name: str

    def detect(self, pages: list[npt.NDArray[np.uint8]]) -> list[list[FloatArray]]:
        """For each page (H, W, 3 uint8), its word boxes, clockwise from top-left."""
        ...

    def describe(self) -> dict[str, object]: ...


def create_detector(settings: OcrSettings, placement: Placement) -> PageDetector:
    config = settings.detector
    if config.engine == "craft":
        from inference.ocr_server.detectors.craft import CraftDetector

        thresholds = Thresholds(config.text_threshold, config.link_threshold, config.low_text)
        return CraftDetector(
            settings.craft_weights_path(),
            placement,
            canvas_size=config.canvas_size,
            mag_ratio=config.mag_ratio,
            thresholds=thresholds,
        )
    if config.engine == "triton":
        plugin = load_plugin("inference.ocr_server.detectors.triton")
        detector: PageDetector = plugin.create_detector(settings, placement)
        return detector
    raise ValueError(f"unknown detector engine {config.engine!r}; known: {ENGINES}")
