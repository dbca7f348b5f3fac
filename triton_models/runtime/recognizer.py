"""The line recognizer models (``crnn``, ``trocr``): one line crop in, text out.

One request is one RGB crop of any size (ragged batching); Triton's dynamic batcher
groups crops from many pages and requests, and they reach the recognizer of
:mod:`inference.ocr_server.recognizers` in one ``recognize`` call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.device import Placement
from inference.logs import configure_logging
from inference.ocr_server.recognizers import LineRecognizer, Recognition
from inference.ocr_server.recognizers.triton import MAX_CROP_SIDE
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


def line_crop(image: np.ndarray | None) -> npt.NDArray[np.uint8]:
    """Validate one request's IMAGE: uint8, height x width x 3 (RGB)."""
    crop: npt.NDArray[np.uint8] = rgb_image(image, min_side=2)
    require(max(crop.shape[:2]) <= MAX_CROP_SIDE, f"IMAGE is larger than {MAX_CROP_SIDE} pixels")
    return crop


class RecognizerModel:
    """Base of the recognizer models; subclasses say how to build their recognizer."""

    def build(
        self, weights: Path, placement: Placement, params: Mapping[str, str]
    ) -> LineRecognizer:
        raise NotImplementedError

    def build_onnx(
        self, graph: Path, placement: Placement, params: Mapping[str, str]
    ) -> LineRecognizer:
        raise ValueError(f"{type(self).__module__} has no onnx engine")

    def initialize(self, args: Mapping[str, str]) -> None:
        settings = RuntimeSettings()
        configure_logging(settings.log_level)
        model = ModelArgs.parse(args)
        placement = model.placement()
        if model.onnx_engine:
            self._recognizer = self.build_onnx(model.onnx_graph(), placement, model.parameters)
        else:
            weights = resolve_weights(
                model.parameters.get("weights", ""), model.version, settings.weights_root
            )
            self._recognizer = self.build(weights, placement, model.parameters)
        log.info(
            "recognizer model ready",
            extra={"model": model.name, "version": model.version, "device": placement.device},
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        decoded = decode_each(requests, lambda r: line_crop(input_array(r, "IMAGE")))
        answers = answer_all(decoded, self._recognizer.recognize)
        return respond(answers, _encode)


def _encode(recognition: Recognition) -> list[Any]:
    import triton_python_backend_utils as pb_utils

    text = np.array([[recognition.text.encode("utf-8")]], dtype=np.object_)
    confidence = np.array([[recognition.confidence]], dtype=np.float32)
    return [pb_utils.Tensor("TEXT", text), pb_utils.Tensor("CONFIDENCE", confidence)]
