"""Triton recognizer: each line crop is one request to ``crnn`` or ``trocr`` in Triton.

All crops of a batch are in flight at once, so Triton's dynamic batcher regroups them
with the crops of other pages and other OCR replicas.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from inference.device import Placement
from inference.ocr_server.recognizers import Recognition
from inference.triton_client import TritonModelClient, first_text

if TYPE_CHECKING:
    from inference.ocr_server.settings import OcrSettings

log = logging.getLogger(__name__)


class TritonRecognizer:
    def __init__(self, client: TritonModelClient) -> None:
        self.name = f"triton:{client.model}"
        self._client = client
        client.wait_ready()

    def recognize(self, crops: list[npt.NDArray[np.uint8]]) -> list[Recognition]:
        items = [{"IMAGE": np.ascontiguousarray(_rgb(crop))[np.newaxis]} for crop in crops]
        outputs = self._client.infer_many(items, ["TEXT", "CONFIDENCE"])
        return [
            Recognition(first_text(o["TEXT"]), float(o["CONFIDENCE"].reshape(-1)[0]))
            for o in outputs
        ]

    def describe(self) -> dict[str, object]:
        return {"id": self.name, "role": "recognizer", "device": f"triton:{self._client.url}"}


def _rgb(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The models take H x W x 3; the in-process recognizers also accept grey crops."""
    return np.repeat(crop[:, :, np.newaxis], 3, axis=2) if crop.ndim == 2 else crop


def create_recognizer(settings: OcrSettings, placement: Placement) -> TritonRecognizer:
    """The plugin hook of :func:`inference.ocr_server.recognizers.create_recognizer`."""
    del placement  # the model runs where Triton places it
    triton = settings.triton
    client = TritonModelClient(
        triton.url,
        triton.recognizer_model,
        timeout_s=triton.timeout_s,
        concurrency=max(settings.batch.max_batch_size, 1),
    )
    return TritonRecognizer(client)
