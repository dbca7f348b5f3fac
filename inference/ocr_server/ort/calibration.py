"""Calibration inputs for int8: pages rendered here, never the test pages, never random.

The pages are essays in DejaVu Sans (the font the install step provides) at several text
sizes, straight and slightly turned, at the scale CRAFT sees them: the int8 ranges come
from real text and white paper, which random input (the first measurement) does not have.
The CRNN is calibrated on the line crops of the same pages, cut from their known boxes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from inference.ocr_server.detectors.postprocess import resize_for_craft
from inference.ocr_server.recognizers.crnn import line_batch

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# The network side the pages are fed at: small enough that calibration (which keeps every
# intermediate tensor of one pass) stays within a few GB, with text at the pixel size of a
# 1280-canvas page.
CALIBRATION_CANVAS = 704
TEXT = (
    "Reading every evening has changed how I think about the world around me. "
    "Last winter I borrowed a history of the ocean from my aunt, and I learned "
    "that most of the planet is still unexplored. Questions like that keep me curious. "
    "My science teacher says that good questions matter more than quick answers, "
    "and I agree with her: the best lessons of 2023 started with a question. "
    "Sometimes I write notes in the margins (about 40 pages so far) and later I compare "
    "them with what my friends noticed; we rarely agree, which is the fun part!"
)
# (font size, turn in degrees) of each calibration page.
PAGES = ((18, 0.0), (22, 2.0), (26, 0.0), (30, -3.0), (22, 0.0), (16, 1.0))


def font_name() -> str:
    """Part of the int8 cache key: other pages give other ranges."""
    return FONT.name if FONT.exists() else "pillow-default"


@dataclass(frozen=True)
class RenderedPage:
    image: npt.NDArray[np.uint8]
    line_boxes: list[tuple[int, int, int, int]]
    turn: float


def render(font_size: int, turn: float, width: int = CALIBRATION_CANVAS) -> RenderedPage:
    font = (
        ImageFont.truetype(str(FONT), font_size)
        if FONT.exists()
        else ImageFont.load_default(font_size)
    )
    margin = 2 * font_size
    words = TEXT.split()
    lines: list[str] = []
    line: list[str] = []
    for word in words:
        if line and font.getlength(" ".join([*line, word])) > width - 2 * margin:
            lines.append(" ".join(line))
            line = []
        line.append(word)
    lines.append(" ".join(line))
    step = int(font_size * 1.7)
    image = Image.new("RGB", (width, 2 * margin + step * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    boxes = []
    for row, text in enumerate(lines):
        x, y = margin + (3 * font_size if row == 0 else 0), margin + row * step
        draw.text((x, y), text, font=font, fill=(25, 25, 25))
        boxes.append(tuple(round(v) for v in draw.textbbox((x, y), text, font=font)))
    if turn:
        image = image.rotate(turn, resample=Image.Resampling.BICUBIC, fillcolor="white")
    return RenderedPage(np.asarray(image), boxes, turn)  # type: ignore[arg-type]


def pages() -> list[RenderedPage]:
    return [render(size, turn) for size, turn in PAGES]


def craft_inputs() -> Iterator[npt.NDArray[np.float32]]:
    """One (1, 3, H, W) normalised page at a time, as the detector feeds CRAFT."""
    for page in pages():
        resized = resize_for_craft(page.image, CALIBRATION_CANVAS, 1.0)
        yield np.ascontiguousarray(resized.image.transpose(2, 0, 1)[np.newaxis])


def crnn_inputs() -> Iterator[npt.NDArray[np.float32]]:
    """Batches of line crops (the straight pages' lines, with the layout's margins)."""
    for page in pages():
        if page.turn:
            continue  # the known boxes are those of the straight page
        crops = []
        for x0, y0, x1, y1 in page.line_boxes:
            size = y1 - y0
            crops.append(
                page.image[
                    max(0, y0 - size // 6) : y1 + size // 6,
                    max(0, x0 - size // 10) : x1 + size // 2,
                ]
            )
        for start in range(0, len(crops), 4):
            yield line_batch(crops[start : start + 4])
