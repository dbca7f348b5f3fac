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

ENGINES = ("auto", "craft", "craft-onnx", "triton")


class PageDetector(Protocol):
    name: str

    def detect(self, pages: list[npt.NDArray[np.uint8]]) -> list[list[FloatArray]]:
        """For each page (H, W, 3 uint8), its word boxes, clockwise from top-left."""
        ...

    def describe(self) -> dict[str, object]: ...


def create_detector(settings: OcrSettings, placement: Placement) -> PageDetector:
    from inference.ocr_server.ort.choice import detector_candidates, resolve_detector

    config = settings.detector
    candidates = detector_candidates(config.engine, config.precision, placement)
    if candidates:  # auto on a CPU: the fastest here, measured once and cached
        from inference.ocr_server.detectors.measured import fastest_detector

        return fastest_detector(settings, placement, candidates, build_detector)
    engine, precision = resolve_detector(config.engine, config.precision, placement)
    return build_detector(settings, placement, engine, precision)


def build_detector(
    settings: OcrSettings, placement: Placement, engine: str, precision: str
) -> PageDetector:
    """The detector ``engine`` at ``precision`` (both resolved: no ``auto`` engine)."""
    config = settings.detector
    thresholds = Thresholds(config.text_threshold, config.link_threshold, config.low_text)
    if engine == "craft-onnx":
        from inference.ocr_server.detectors.craft_onnx import CraftOnnxDetector
        from inference.ocr_server.ort.choice import graph_for

        path, graph_precision = graph_for(
            "craft",
            settings.craft_weights_path(),
            precision,
            placement,
            settings.onnx.cache_dir,
        )
        return CraftOnnxDetector(
            path,
            placement,
            precision=graph_precision,
            canvas_size=config.canvas_size,
            mag_ratio=config.mag_ratio,
            thresholds=thresholds,
            threads=settings.onnx.threads,
        )
    if engine == "craft":
        from inference.ocr_server.detectors.craft import CraftDetector

        return CraftDetector(
            settings.craft_weights_path(),
            placement,
            precision=precision,
            canvas_size=config.canvas_size,
            mag_ratio=config.mag_ratio,
            thresholds=thresholds,
        )
    if engine == "triton":
        plugin = load_plugin("inference.ocr_server.detectors.triton")
        detector: PageDetector = plugin.create_detector(settings, placement)
        return detector
    raise ValueError(f"unknown detector engine {engine!r}; known: {ENGINES}")
