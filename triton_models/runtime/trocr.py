"""The ``trocr`` Triton model: a TrOCR ``save_pretrained`` directory per version."""

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
        from inference.ocr_server.recognizers.trocr import TrocrRecognizer

        max_new_tokens = int(params.get("max_new_tokens") or 96)
        return TrocrRecognizer(weights, placement, max_new_tokens=max_new_tokens)
