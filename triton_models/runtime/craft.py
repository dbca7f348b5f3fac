"""The ``craft`` Triton model: one page in, its word quadrilaterals out.

The detector is :class:`inference.ocr_server.detectors.craft.CraftDetector`, the one the
OCR server runs in-process; pages that Triton batches together go to it in one
``detect`` call (it pads them to a common canvas itself).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.logs import configure_logging
from inference.ocr_server.detectors import PageDetector
from inference.ocr_server.detectors.postprocess import FloatArray, Thresholds
from inference.ocr_server.detectors.triton import MIN_PAGE_SIDE
from triton_models.runtime.common import (
    ModelArgs,
    RuntimeSettings,
    answer_all,
    decode_each,
    input_array,
    require,
    resolve_weights,
    respond,
    rgb_image,
)

log = logging.getLogger(__name__)

MAX_PAGE_PIXELS = 50_000_000


def page_image(image: np.ndarray | None) -> npt.NDArray[np.uint8]:
    """Validate one request's IMAGE: an upright RGB page, uint8, height x width x 3."""
    page: npt.NDArray[np.uint8] = rgb_image(image, min_side=MIN_PAGE_SIDE)
    require(page.shape[0] * page.shape[1] <= MAX_PAGE_PIXELS, "IMAGE has too many pixels")
    return page


def boxes_tensor(quads: list[FloatArray]) -> npt.NDArray[np.float32]:
    """Word quadrilaterals as one (1, N, 4, 2) array (N may be 0)."""
    stacked = np.stack(quads) if quads else np.zeros((0, 4, 2), dtype=np.float32)
    return stacked.astype(np.float32, copy=False)[np.newaxis]


class TritonPythonModel:
    def initialize(self, args: Mapping[str, str]) -> None:
        from inference.ocr_server.detectors.craft import CraftDetector

        settings = RuntimeSettings()
        configure_logging(settings.log_level)
        model = ModelArgs.parse(args)
        params = model.parameters
        defaults = Thresholds()
        thresholds = Thresholds(
            float(params.get("text_threshold") or defaults.text),
            float(params.get("link_threshold") or defaults.link),
            float(params.get("low_text") or defaults.low_text),
        )
        placement = model.placement()
        scaling = {
            "canvas_size": int(params.get("canvas_size") or 1280),
            "mag_ratio": float(params.get("mag_ratio") or 1.0),
            "thresholds": thresholds,
        }
        self._detector: PageDetector
        if model.onnx_engine:
            from inference.ocr_server.detectors.craft_onnx import CraftOnnxDetector

            precision = params.get("precision") or "fp32"
            graph = model.onnx_graph()
            self._detector = CraftOnnxDetector(graph, placement, precision=precision, **scaling)  # type: ignore[arg-type]
        else:
            weights = resolve_weights(
                params.get("weights", ""), model.version, settings.weights_root
            )
            if weights.is_dir():
                weights = weights / "craft_mlt_25k.pth"
            self._detector = CraftDetector(weights, placement, **scaling)  # type: ignore[arg-type]
        log.info(
            "craft model ready",
            extra={
                "version": model.version,
                "device": placement.device,
                "model": self._detector.name,
            },
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        decoded = decode_each(requests, lambda r: page_image(input_array(r, "IMAGE")))
        answers = answer_all(decoded, self._detector.detect)
        return respond(answers, _encode)


def _encode(quads: list[FloatArray]) -> list[Any]:
    import triton_python_backend_utils as pb_utils

    return [pb_utils.Tensor("BOXES", boxes_tensor(quads))]
