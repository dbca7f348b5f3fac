"""The english_g2 CRNN on ONNX Runtime (``crnn-onnx``): same crops, batching and decoding.

The exported graph ends in the softmax, so a pass returns probabilities that
:func:`greedy_ctc` decodes as for torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference.device import Placement
from inference.ocr_server.ort.graphs import CRNN_INPUT
from inference.ocr_server.ort.session import create_session
from inference.ocr_server.recognizers import Recognition
from inference.ocr_server.recognizers.crnn import (
    GPU_BATCH_PIXELS,
    chunk_by_width,
    greedy_ctc,
    line_batch,
    weights_identity,
)
from inference.ocr_server.recognizers.crnn_net import LINE_HEIGHT

log = logging.getLogger(__name__)

# ONNX Runtime's LSTM steps through the time axis once per pass, so wide passes pay: on 2
# cores the int8 graph read a 20-line page in 2.9 s one line per pass, 0.63 s four lines
# per pass and 0.58 s in one pass. A pass holds up to 16 full-width lines.
CPU_BATCH_PIXELS = LINE_HEIGHT * 2048 * 16


class CrnnOnnxRecognizer:
    def __init__(
        self,
        model_path: Path,
        placement: Placement,
        *,
        precision: str,
        max_batch_pixels: int | None = None,
        threads: int = 0,
        weights: Path | None = None,
    ) -> None:
        self.name = "crnn_english_g2"  # the weights' id, as for torch
        self.precision = precision
        self.placement = placement
        self.model_path = model_path
        self.weights = weights  # the state dict the graph was exported from, when known
        default = GPU_BATCH_PIXELS if placement.device == "cuda" else CPU_BATCH_PIXELS
        self.max_batch_pixels = max_batch_pixels or default
        self._session = create_session(model_path, placement, threads)
        log.info("recognizer loaded", extra={"model": self.name, "device": placement.device})

    def recognize(self, crops: list[npt.NDArray[np.uint8]]) -> list[Recognition]:
        results: list[Recognition | None] = [None] * len(crops)
        for chunk in chunk_by_width(crops, self.max_batch_pixels):
            batch = line_batch([crops[i] for i in chunk])
            (probabilities,) = self._session.run(None, {CRNN_INPUT: batch})
            for index, sequence in zip(chunk, probabilities, strict=True):
                results[index] = greedy_ctc(sequence)
        return [result for result in results if result is not None]

    def describe(self) -> dict[str, object]:
        return {
            "id": self.name,
            "role": "recognizer",
            "device": self.placement.device,
            "engine": f"onnx-{self.precision}",
            "providers": self._session.get_providers(),
            "onnx": self.model_path.name,
            **weights_identity(self.weights),
        }
