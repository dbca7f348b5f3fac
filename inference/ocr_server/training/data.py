"""Line samples as CRNN batches: the service's own preprocessing, train-time augmentation
and width buckets (similar widths together, as the service batches them)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from inference.ocr_server.recognizers.crnn import line_batch, scaled_width, width_at_line_height
from inference.ocr_server.recognizers.crnn_net import ENGLISH_G2_CHARACTERS
from inference.ocr_server.training.labels import Sample

_INDEX = {ch: i + 1 for i, ch in enumerate(ENGLISH_G2_CHARACTERS)}  # 0 is the CTC blank


def encode(text: str) -> list[int]:
    return [_INDEX[ch] for ch in text]


def load_rgb(sample: Sample) -> npt.NDArray[np.uint8]:
    with Image.open(sample.image) as image:
        return np.asarray(image.convert("RGB"))


def augment(crop: npt.NDArray[np.uint8], rng: random.Random) -> npt.NDArray[np.uint8]:
    """What one more photo of the same line, or another writer, could look like: width,
    elastic strokes, contrast, blur, noise."""
    if rng.random() < 0.5:
        crop = elastic(crop, rng)
    h, w = crop.shape[:2]
    stretched = cv2.resize(crop, (max(8, int(w * rng.uniform(0.85, 1.15))), h))
    if rng.random() < 0.3:
        stretched = cv2.GaussianBlur(stretched, (3, 3), rng.uniform(0.3, 1.0))
    out = np.asarray(stretched, dtype=np.float32)
    out = (out - 128.0) * rng.uniform(0.7, 1.2) + 128.0 + rng.uniform(-25, 20)
    if rng.random() < 0.3:
        out += np.random.default_rng(rng.getrandbits(32)).normal(0, 5, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def elastic(crop: npt.NDArray[np.uint8], rng: random.Random) -> npt.NDArray[np.uint8]:
    """Strokes bent by a smooth random displacement (a few percent of the line height):
    the same letters as another hand would draw them."""
    h, w = crop.shape[:2]
    noise = np.random.default_rng(rng.getrandbits(32))
    sigma = max(1.0, 0.08 * h)
    amount = h * rng.uniform(0.015, 0.05)
    fields = []
    for _ in range(2):
        field = cv2.GaussianBlur(noise.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
        fields.append(field * (amount / max(float(np.abs(field).max()), 1e-6)))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    bent = cv2.remap(
        crop, xs + fields[0], ys + fields[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(bent, dtype=np.uint8)


def steps(width: int) -> int:
    """CTC time steps the CRNN gives a line padded to ``width`` (crnn_net: /4, then -1)."""
    return (width // 2) // 2 - 1


@dataclass(frozen=True)
class Batch:
    lines: torch.Tensor  # (N, 1, 64, W) in [-1, 1]
    targets: torch.Tensor  # the texts' classes, concatenated
    target_lengths: torch.Tensor
    input_lengths: torch.Tensor  # CTC steps of each line before the padding
    texts: list[str]
    groups: list[str]


class Batches:
    """Epochs of :class:`Batch` over labelled samples."""

    def __init__(self, samples: Sequence[Sample], batch_size: int, *, seed: int, train: bool):
        self.samples = list(samples)
        self.batch_size = batch_size
        self.seed = seed
        self.train = train
        self.widths = []
        for sample in self.samples:
            with Image.open(sample.image) as image:
                width, height = image.size
            self.widths.append(width_at_line_height(height, width))

    def plan(self, epoch: int) -> list[list[int]]:
        """Batches of similar width; shuffled (within and across buckets) when training.
        Depends only on the seed and the epoch, so a resumed run sees the same batches."""
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = sorted(range(len(self.samples)), key=lambda i: (self.widths[i], i))
        if self.train:  # neighbours in width, shuffled a little, then batches shuffled
            order = sorted(order, key=lambda i: self.widths[i] * rng.uniform(0.9, 1.1))
        chunks = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.train:
            rng.shuffle(chunks)
        return chunks

    def __len__(self) -> int:
        return -(-len(self.samples) // self.batch_size)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        for number, chunk in enumerate(self.plan(epoch)):
            rng = random.Random(hash((self.seed, epoch, number)) & 0xFFFFFFFF)
            crops = [load_rgb(self.samples[i]) for i in chunk]
            if self.train:
                crops = [augment(crop, rng) for crop in crops]
            lines = torch.from_numpy(line_batch(crops))
            texts = [self.samples[i].text for i in chunk]
            encoded = [encode(t) for t in texts]
            targets = torch.tensor([c for e in encoded for c in e], dtype=torch.long)
            target_lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
            padded = steps(lines.shape[3])
            input_lengths = torch.tensor(
                [min(padded, steps(scaled_width(crop))) for crop in crops], dtype=torch.long
            )
            groups = [self.samples[i].group for i in chunk]
            yield Batch(lines, targets, target_lengths, input_lengths, texts, groups)
