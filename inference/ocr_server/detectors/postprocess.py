"""CRAFT pre- and post-processing as pure numpy/OpenCV functions.

Shared by the in-process detector and the Triton model, and tested without a model.
Follows the reference implementation: the page is scaled so its long side is
``mag_ratio`` times larger but at most ``canvas_size``, padded to a multiple of 32; the
score maps come back at half that resolution; word boxes are the minimum-area rectangles
of connected components of (region > low_text) | (affinity > link_threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
# ImageNet statistics in 0-255 units, as CRAFT was trained.
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0


@dataclass(frozen=True)
class Thresholds:
    text: float = 0.7
    link: float = 0.4
    low_text: float = 0.4


@dataclass(frozen=True)
class Resized:
    """A page scaled for the network: ``image`` (h, w, 3) float32, already normalised."""

    image: FloatArray
    scale: float  # network pixels per original pixel


def resize_for_craft(page: npt.NDArray[np.uint8], canvas_size: int, mag_ratio: float) -> Resized:
    """Scale and normalise an RGB page; pad to multiples of 32 with black (as trained)."""
    height, width = page.shape[:2]
    target = min(mag_ratio * max(height, width), float(canvas_size))
    scale = target / max(height, width)
    new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
    scaled = cv2.resize(page, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = np.zeros((_round_up(new_h, 32), _round_up(new_w, 32), 3), dtype=np.float32)
    padded[:new_h, :new_w] = scaled
    return Resized(image=(padded - _MEAN) / _STD, scale=scale)


def stack_padded(images: list[FloatArray]) -> FloatArray:
    """One (N, 3, H, W) array for a batch of pages of different sizes (black padding)."""
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    black = -_MEAN / _STD
    batch = np.empty((len(images), height, width, 3), dtype=np.float32)
    batch[:] = black
    for index, image in enumerate(images):
        batch[index, : image.shape[0], : image.shape[1]] = image
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def prepare_batch(
    pages: list[npt.NDArray[np.uint8]], canvas_size: int, mag_ratio: float
) -> tuple[FloatArray, list[Resized]]:
    """The network input (N, 3, H, W) for ``pages`` and how each page was scaled."""
    resized = [resize_for_craft(page, canvas_size, mag_ratio) for page in pages]
    return stack_padded([r.image for r in resized]), resized


def boxes_from_maps(
    maps: FloatArray, resized: list[Resized], thresholds: Thresholds
) -> list[list[FloatArray]]:
    """Each page's word boxes in its own pixels from the batch's (N, H/2, W/2, 2) maps."""
    results: list[list[FloatArray]] = []
    for page_maps, page in zip(maps, resized, strict=True):
        # Only the part of the map that covers this page, not the batch padding.
        h = -(-page.image.shape[0] // 2)
        w = -(-page.image.shape[1] // 2)
        boxes = word_boxes(page_maps[:h, :w, 0], page_maps[:h, :w, 1], thresholds)
        results.append(to_page_coordinates(boxes, page.scale))
    return results


def word_boxes(
    region: FloatArray, affinity: FloatArray, thresholds: Thresholds
) -> list[FloatArray]:
    """Word quadrilaterals (4, 2), clockwise from top-left, in score-map pixels."""
    text_mask = region > thresholds.low_text
    link_mask = affinity > thresholds.link
    combined = (text_mask | link_mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(combined, connectivity=4)
    boxes: list[FloatArray] = []
    map_h, map_w = region.shape
    for label in range(1, count):
        left, top, w, h, area = (int(v) for v in stats[label])
        if area < 10:
            continue
        # Grow the crop by the dilation margin so the dilated segment is not clipped.
        niter = int(math.sqrt(area * min(w, h) / (w * h)) * 2)
        x0, y0 = max(0, left - niter), max(0, top - niter)
        x1, y1 = min(map_w, left + w + niter + 1), min(map_h, top + h + niter + 1)
        component = labels[y0:y1, x0:x1] == label
        if float(region[y0:y1, x0:x1][component].max()) < thresholds.text:
            continue
        segment = component & ~(link_mask[y0:y1, x0:x1] & ~text_mask[y0:y1, x0:x1])
        segment = segment.astype(np.uint8) * 255
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1 + niter, 1 + niter))
        segment = cv2.dilate(segment, kernel)
        ys, xs = np.nonzero(segment)
        points = np.stack([xs + x0, ys + y0], axis=1).astype(np.float32)
        boxes.append(_oriented_box(points))
    return boxes


def _oriented_box(points: FloatArray) -> FloatArray:
    box = cv2.boxPoints(cv2.minAreaRect(points)).astype(np.float32)
    side_a = float(np.linalg.norm(box[0] - box[1]))
    side_b = float(np.linalg.norm(box[1] - box[2]))
    # A near-square rectangle's angle is arbitrary (a "diamond"); use the upright box.
    if max(side_a, side_b) / (min(side_a, side_b) + 1e-5) <= 1.1:
        left, top = points.min(axis=0)
        right, bottom = points.max(axis=0)
        box = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)
    start = int(box.sum(axis=1).argmin())
    return np.roll(box, 4 - start, axis=0)


def to_page_coordinates(boxes: list[FloatArray], scale: float) -> list[FloatArray]:
    """Score maps are at half the network's resolution; undo that and the page scaling."""
    factor = 2.0 / scale
    return [box * factor for box in boxes]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
