"""The ``crnn`` Triton model: EasyOCR's english_g2 CRNN (the embedded default recognizer)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from inference.device import Placement
from inference.ocr_server.recognizers import LineRecognizer
from triton_models.runtime.recognizer import RecognizerModel


class TritonPythonModel(RecognizerModel):
    def build(
        self, weights: Path, placement: Placement, params: Mapping[str, str]
    ) -> LineRecognizer:
        from inference.ocr_server.recognizers.crnn import CrnnRecognizer

        # A version folder holding english_g2.pth, or the .pth file itself.
        path = weights / "english_g2.pth" if weights.is_dir() else weights
        return CrnnRecognizer(path, placement)

    def build_onnx(
        self, graph: Path, placement: Placement, params: Mapping[str, str]
    ) -> LineRecognizer:
        from inference.ocr_server.recognizers.crnn_onnx import CrnnOnnxRecognizer

        return CrnnOnnxRecognizer(graph, placement, precision=params.get("precision") or "fp32")
