"""Triton recognizer: each line crop is one request to ``crnn`` or ``trocr`` in Triton.

All crops of a batch are in flight at once, so Triton's dynamic batcher regroups them
with the crops of other pages and other OCR replicas.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from inference.device import Placement
from inference.ocr_server.recognizers import Recognition
from inference.triton_client import TritonModelClient, first_text

if TYPE_CHECKING:
    from inference.ocr_server.settings import OcrSettings

log = logging.getLogger(__name__)

MAX_CROP_SIDE = 8192  # the recognizer Triton models refuse longer crops (triton_models/runtime)


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
    """The models take H x W x 3 of at most MAX_CROP_SIDE; the in-process recognizers
    also accept grey and longer crops. Both recognizers scale a line to a small fixed
    height anyway, so shrinking a very long line first changes nothing they read."""
    rgb = np.repeat(crop[:, :, np.newaxis], 3, axis=2) if crop.ndim == 2 else crop
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= MAX_CROP_SIDE:
        return rgb
    scale = MAX_CROP_SIDE / longest
    size = (max(1, int(width * scale)), max(2, int(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


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
