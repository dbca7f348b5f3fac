"""From word boxes to reading-order text lines: deskew, group, crop, mark indentation.

Pure numpy/OpenCV, no model: the page is turned by the median slope of its words (small
skews only), words are grouped into lines by their vertical centres in that frame, lines
are sorted top to bottom, and each line is cropped from the turned page. A line whose left
edge is an outlier by the interquartile-range rule starts an indented paragraph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]

MAX_SKEW_DEGREES = 15.0
# Below this the page is used as it is: turning costs time and blurs the crop.
MIN_SKEW_DEGREES = 0.3
# Crop margins around a line, in text heights. More on the right: CRAFT often leaves a
# line's final full stop outside its last word box, while a wide blank lead-in makes the
# CRNN read a spurious "~".
MARGIN_LEFT = 0.1
MARGIN_RIGHT = 0.45
MARGIN_Y = 0.15


@dataclass(frozen=True)
class LayoutLine:
    box: tuple[int, int, int, int]  # axis-aligned, original page pixels
    crop: Image  # RGB, upright
    indented: bool


@dataclass(frozen=True)
class _Row:
    x0: float
    y0: float
    x1: float
    y1: float


def estimate_skew(quads: list[FloatArray]) -> float:
    """Page skew in degrees (positive: lines fall to the right).

    The boxes of short words are often axis-aligned whatever the skew, so the slope comes
    from the centres of neighbouring words instead: for each word, the nearest word to
    its right within the skew limit; the median of those slopes, weighted by distance.
    """
    if len(quads) < 2:
        return 0.0
    centres = np.array([quad.mean(axis=0) for quad in quads], dtype=np.float64)
    height = float(np.median([np.linalg.norm(q[3] - q[0]) for q in quads]))
    dx = centres[None, :, 0] - centres[:, None, 0]
    dy = centres[None, :, 1] - centres[:, None, 1]
    limit = math.tan(math.radians(MAX_SKEW_DEGREES))
    candidate = (dx > 0) & (np.abs(dy) <= dx * limit + 0.25 * height) & (dx < 12 * height)
    distance = np.where(candidate, dx, np.inf)
    nearest = distance.argmin(axis=1)
    rows = np.flatnonzero(np.isfinite(distance.min(axis=1)))
    if rows.size == 0:
        return 0.0
    run, rise = dx[rows, nearest[rows]], dy[rows, nearest[rows]]
    angles = np.degrees(np.arctan2(rise, run))
    order = np.argsort(angles)
    cumulative = np.cumsum(run[order])
    median = float(angles[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    return float(np.clip(median, -MAX_SKEW_DEGREES, MAX_SKEW_DEGREES))


def deskew_matrix(width: int, height: int, degrees: float) -> tuple[FloatArray, int, int]:
    """Affine matrix turning the page by ``degrees`` (counter-clockwise) onto a canvas
    large enough to hold it, and that canvas's size."""
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = math.ceil(height * sin + width * cos)
    new_h = math.ceil(height * cos + width * sin)
    matrix[0, 2] += new_w / 2.0 - width / 2.0
    matrix[1, 2] += new_h / 2.0 - height / 2.0
    return matrix.astype(np.float32), new_w, new_h


def group_rows(boxes: list[_Row]) -> list[list[_Row]]:
    """Words whose vertical centres lie within half a text height form one line."""
    if not boxes:
        return []
    height = float(np.median([b.y1 - b.y0 for b in boxes]))
    rows: list[list[_Row]] = []
    centres: list[float] = []
    for box in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        centre = (box.y0 + box.y1) / 2
        if rows and abs(centre - centres[-1]) < 0.5 * height:
            rows[-1].append(box)
            centres[-1] = float(np.mean([(b.y0 + b.y1) / 2 for b in rows[-1]]))
        else:
            rows.append([box])
            centres.append(centre)
    return rows


def indented_flags(lefts: list[float], text_height: float) -> list[bool]:
    """Lines whose left edge lies beyond the upper IQR fence of the margin.

    The quartiles are those of the flush lines (within a text height of the first
    quartile), so a page where many paragraphs start indented still has a clean margin to
    measure against; the spread is floored at half a text height so the jitter of a
    handwritten margin is not taken for an indent.
    """
    if len(lefts) < 3:
        return [False] * len(lefts)
    values = np.asarray(lefts, dtype=np.float64)
    first_quartile = float(np.percentile(values, 25))
    flush = values[values <= first_quartile + text_height]
    q1, q3 = np.percentile(flush, [25, 75])
    fence = float(q3) + 1.5 * max(float(q3 - q1), 0.5 * text_height)
    return [bool(left > fence) for left in values]


def lay_out_lines(page: Image, quads: list[FloatArray]) -> list[LayoutLine]:
    """Reading-order line crops of ``page`` (RGB) from word ``quads`` in page pixels."""
    if not quads:
        return []
    height, width = page.shape[:2]
    skew = estimate_skew(quads)
    if abs(skew) < MIN_SKEW_DEGREES:
        skew = 0.0
    matrix, new_w, new_h = deskew_matrix(width, height, skew)
    level: Image = page
    if skew:
        white = (255, 255, 255)
        level = np.asarray(
            cv2.warpAffine(page, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=white),
            dtype=np.uint8,
        )
    spans = [_union(row) for row in group_rows([_upright_box(q, matrix) for q in quads])]
    text_height = float(np.median([span.y1 - span.y0 for span in spans]))
    flags = indented_flags([span.x0 for span in spans], text_height)
    inverse = np.asarray(cv2.invertAffineTransform(matrix), dtype=np.float32)
    lines = []
    for span, indented in zip(spans, flags, strict=True):
        x0, y0, x1, y1 = _with_margins(span, level.shape[1], level.shape[0])
        crop = np.ascontiguousarray(level[y0:y1, x0:x1])
        lines.append(LayoutLine(_page_box(x0, y0, x1, y1, inverse, width, height), crop, indented))
    return lines


def _union(row: list[_Row]) -> _Row:
    return _Row(
        min(b.x0 for b in row),
        min(b.y0 for b in row),
        max(b.x1 for b in row),
        max(b.y1 for b in row),
    )


def _with_margins(span: _Row, width: int, height: int) -> tuple[int, int, int, int]:
    size = span.y1 - span.y0
    return (
        max(0, int(span.x0 - MARGIN_LEFT * size)),
        max(0, int(span.y0 - MARGIN_Y * size)),
        min(width, int(span.x1 + MARGIN_RIGHT * size) + 1),
        min(height, int(span.y1 + MARGIN_Y * size) + 1),
    )


def _upright_box(quad: FloatArray, matrix: FloatArray) -> _Row:
    points = cv2.transform(quad.reshape(-1, 1, 2).astype(np.float32), matrix).reshape(-1, 2)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return _Row(float(x0), float(y0), float(x1), float(y1))


def _page_box(
    x0: int, y0: int, x1: int, y1: int, inverse: FloatArray, width: int, height: int
) -> tuple[int, int, int, int]:
    corners = np.array([[[x0, y0]], [[x1, y0]], [[x1, y1]], [[x0, y1]]], dtype=np.float32)
    points = cv2.transform(corners, inverse).reshape(-1, 2)
    (px0, py0), (px1, py1) = points.min(axis=0), points.max(axis=0)
    return (
        max(0, round(float(px0))),
        max(0, round(float(py0))),
        min(width, round(float(px1))),
        min(height, round(float(py1))),
    )
