"""Line recognizers: RGB line crops in, text and confidence out, one Protocol.

``create_recognizer`` accepts only known engine names. The Triton engine lives in
``inference.ocr_server.recognizers.triton`` (written with the Triton deployment) and is
imported only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from inference.device import Placement
from inference.ocr_server.plugins import load_plugin

if TYPE_CHECKING:
    from inference.ocr_server.settings import OcrSettings

ENGINES = ("auto", "crnn", "crnn-onnx", "trocr", "triton")


@dataclass(frozen=True)
class Recognition:
    text: str
    confidence: float  # 0..1


class LineRecognizer(Protocol):
    name: str

    def recognize(self, crops: list[npt.NDArray[np.uint8]]) -> list[Recognition]:
        """One result per crop, in order; the crops may be of any width and height."""
        ...

    def describe(self) -> dict[str, object]: ...


def create_recognizer(settings: OcrSettings, placement: Placement) -> LineRecognizer:
    from inference.ocr_server.ort.choice import resolve_engine

    config = settings.recognizer
    engine = resolve_engine(config.engine, placement, "crnn")
    if engine == "crnn-onnx":
        from inference.ocr_server.ort.choice import graph_for
        from inference.ocr_server.recognizers.crnn_onnx import CrnnOnnxRecognizer

        path, precision = graph_for(
            "crnn",
            settings.crnn_weights_path(),
            config.precision,
            placement,
            settings.onnx.cache_dir,
        )
        return CrnnOnnxRecognizer(
            path,
            placement,
            precision=precision,
            max_batch_pixels=config.crnn_batch_pixels,
            threads=settings.onnx.threads,
            weights=settings.crnn_weights_path(),
        )
    if engine == "crnn":
        from inference.ocr_server.recognizers.crnn import CrnnRecognizer

        return CrnnRecognizer(
            settings.crnn_weights_path(), placement, max_batch_pixels=config.crnn_batch_pixels
        )
    if engine == "trocr":
        from inference.ocr_server.recognizers.trocr import TrocrRecognizer

        if config.trocr_dir is None:
            raise ValueError("OCR_RECOGNIZER__TROCR_DIR must name a TrOCR model directory")
        return TrocrRecognizer(
            Path(config.trocr_dir), placement, max_new_tokens=config.max_new_tokens
        )
    if engine == "triton":
        plugin = load_plugin("inference.ocr_server.recognizers.triton")
        recognizer: LineRecognizer = plugin.create_recognizer(settings, placement)
        return recognizer
    raise ValueError(f"unknown recognizer engine {engine!r}; known: {ENGINES}")
