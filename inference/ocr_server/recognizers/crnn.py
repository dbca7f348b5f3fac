"""The embedded default recognizer: EasyOCR's english_g2 CRNN with greedy CTC decoding."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import torch

from inference.device import Placement
from inference.ocr_server.recognizers import Recognition
from inference.ocr_server.recognizers.crnn_net import ENGLISH_G2_CHARACTERS, LINE_HEIGHT, load_crnn

log = logging.getLogger(__name__)

# Widths beyond this are squeezed: a 64 px high line 4096 px wide holds ~200 characters.
MAX_WIDTH = 4096
# Pixels (64 x total padded width) per forward pass. On a CPU the convolutions already use
# every core for one line and a wide batch only thrashes the cache (measured on 2 cores:
# 20 lines in one call 1.5x slower than one by one), so a CPU pass holds one full-width
# line or a few short ones; a GPU takes the whole batch.
CPU_BATCH_PIXELS = LINE_HEIGHT * 2048
GPU_BATCH_PIXELS = LINE_HEIGHT * 256 * 2048


def to_line_tensor(crops: list[npt.NDArray[np.uint8]]) -> torch.Tensor:
    """:func:`line_batch` as a torch tensor."""
    return torch.from_numpy(line_batch(crops))


def line_batch(crops: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    """Grey crops at the model's height, in [-1, 1], right-padded by repeating each line's
    last column (as the model was trained) to the widest of the batch."""
    lines = []
    for crop in crops:
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
        size = (scaled_width(crop), LINE_HEIGHT)
        lines.append(cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR))
    batch_w = max(line.shape[1] for line in lines)
    batch = np.empty((len(lines), 1, LINE_HEIGHT, batch_w), dtype=np.float32)
    for index, line in enumerate(lines):
        batch[index, 0, :, : line.shape[1]] = line
        batch[index, 0, :, line.shape[1] :] = line[:, -1:]
    batch /= 127.5
    batch -= 1.0
    return batch


def scaled_width(crop: npt.NDArray[np.uint8]) -> int:
    return width_at_line_height(int(crop.shape[0]), int(crop.shape[1]))


def width_at_line_height(height: int, width: int) -> int:
    """The width of a ``height`` x ``width`` crop once scaled to the model's height."""
    return min(MAX_WIDTH, max(LINE_HEIGHT // 4, math.ceil(LINE_HEIGHT * width / height)))


def chunk_by_width(crops: list[npt.NDArray[np.uint8]], max_pixels: int) -> list[list[int]]:
    """Indices of ``crops`` in forward passes: similar widths together (less padding),
    each pass within ``max_pixels`` once padded (but at least one crop)."""
    order = sorted(range(len(crops)), key=lambda i: scaled_width(crops[i]))
    chunks: list[list[int]] = []
    for index in order:
        width = scaled_width(crops[index])  # the widest so far in its chunk: sorted
        if chunks and (len(chunks[-1]) + 1) * width * LINE_HEIGHT <= max_pixels:
            chunks[-1].append(index)
        else:
            chunks.append([index])
    return chunks


def greedy_ctc(
    probabilities: npt.NDArray[np.float32], charset: str = ENGLISH_G2_CHARACTERS
) -> Recognition:
    """Best class per step, repeats merged, blanks (class 0) dropped. The confidence is
    the geometric mean of the kept steps' probabilities (0 when nothing is read)."""
    best = probabilities.argmax(axis=1)
    keep = (best != 0) & np.concatenate(([True], best[1:] != best[:-1]))
    if not keep.any():
        return Recognition("", 0.0)
    text = "".join(charset[index - 1] for index in best[keep])
    kept = probabilities[np.arange(len(best)), best][keep]
    confidence = float(np.exp(np.log(np.clip(kept, 1e-12, 1.0)).mean()))
    return Recognition(text.strip(), confidence)


class CrnnRecognizer:
    name = "crnn_english_g2"

    def __init__(
        self, weights: Path, placement: Placement, *, max_batch_pixels: int | None = None
    ) -> None:
        self.placement = placement
        self.weights = weights
        default = GPU_BATCH_PIXELS if placement.device == "cuda" else CPU_BATCH_PIXELS
        self.max_batch_pixels = max_batch_pixels or default
        self._dtype = torch.float16 if placement.half else torch.float32
        self._model = load_crnn(weights).to(placement.device, self._dtype)
        log.info("recognizer loaded", extra={"model": self.name, "device": placement.device})

    def recognize(self, crops: list[npt.NDArray[np.uint8]]) -> list[Recognition]:
        results: list[Recognition | None] = [None] * len(crops)
        for chunk in chunk_by_width(crops, self.max_batch_pixels):
            batch = to_line_tensor([crops[i] for i in chunk]).to(self.placement.device, self._dtype)
            with torch.inference_mode():
                probabilities = self._model(batch).float().softmax(dim=2).cpu().numpy()
            for index, sequence in zip(chunk, probabilities, strict=True):
                results[index] = greedy_ctc(sequence)
        return [result for result in results if result is not None]

    def describe(self) -> dict[str, object]:
        return {
            "id": self.name,
            "role": "recognizer",
            "device": self.placement.device,
            **weights_identity(self.weights),
        }


def weights_identity(weights: Path | None) -> dict[str, object]:
    """Which weights answer: the file and its hash (the ONNX cache's key)."""
    if weights is None:
        return {}
    from inference.ocr_server.ort.cache import weights_digest

    return {"weights": str(weights), "weights_sha256": weights_digest(weights)}
