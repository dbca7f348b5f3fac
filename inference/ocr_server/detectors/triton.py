"""Triton detector: pages go to the ``craft`` model of triton_models/, one request each.

Detection parameters (canvas size, thresholds) are those of the Triton model's config;
the OCR server's own layout and cropping run unchanged on the boxes that come back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from inference.device import Placement
from inference.ocr_server.detectors.postprocess import FloatArray
from inference.triton_client import TritonModelClient

if TYPE_CHECKING:
    from inference.ocr_server.settings import OcrSettings

log = logging.getLogger(__name__)

MIN_PAGE_SIDE = 8  # the craft Triton model refuses smaller pages (triton_models/runtime)


class TritonDetector:
    def __init__(self, client: TritonModelClient) -> None:
        self.name = f"triton:{client.model}"
        self._client = client
        client.wait_ready()

    def detect(self, pages: list[npt.NDArray[np.uint8]]) -> list[list[FloatArray]]:
        # A page too small to hold text has none, as in-process; the model would refuse it.
        sent = [i for i, page in enumerate(pages) if min(page.shape[:2]) >= MIN_PAGE_SIDE]
        items = [{"IMAGE": np.ascontiguousarray(pages[i])[np.newaxis]} for i in sent]
        outputs = self._client.infer_many(items, ["BOXES"]) if items else []
        found: list[list[FloatArray]] = [[] for _ in pages]
        for index, out in zip(sent, outputs, strict=True):
            found[index] = [quad.astype(np.float32) for quad in out["BOXES"][0]]
        return found

    def describe(self) -> dict[str, object]:
        return {"id": self.name, "role": "detector", "device": f"triton:{self._client.url}"}


def create_detector(settings: OcrSettings, placement: Placement) -> TritonDetector:
    """The plugin hook of :func:`inference.ocr_server.detectors.create_detector`."""
    del placement  # the model runs where Triton places it
    triton = settings.triton
    client = TritonModelClient(
        triton.url,
        triton.detector_model,
        timeout_s=triton.timeout_s,
        concurrency=max(settings.detector.batch.max_batch_size, 1),
    )
    return TritonDetector(client)
