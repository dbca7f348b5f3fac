"""An engine's page reading against torch float32's: line boxes (IoU) and CER.

Used by the accuracy tests and by bench/ocr.py, so both report the same numbers. A page
is read in process as the server does (detect, lay out, recognize), without HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

import jiwer
import numpy as np

from inference.device import Placement
from inference.images import decode_image
from inference.ocr_server.detectors import PageDetector, create_detector
from inference.ocr_server.layout import lay_out_lines
from inference.ocr_server.recognizers import LineRecognizer, create_recognizer
from inference.ocr_server.settings import OcrSettings
from tests.inference.ocr.pages import (
    ESSAY,
    OTHER_ESSAYS,
    exif_rotated_jpeg,
    png_bytes,
    render_page,
    rotated,
)

Box = tuple[int, int, int, int]
# The bounds: an engine keeps accuracy when both hold on the test pages.
MAX_CER_INCREASE = 0.003
MIN_BOX_SHARE = 0.98
MIN_IOU = 0.9


@dataclass(frozen=True)
class Reading:
    boxes: list[Box]
    text: str


@dataclass(frozen=True)
class AccuracyPage:
    name: str
    data: bytes  # as uploaded
    truth: str


def accuracy_pages() -> list[AccuracyPage]:
    """Straight, turned both ways and EXIF-rotated essays (tests/inference/ocr/pages.py)."""
    straight = render_page(ESSAY)
    other = render_page(OTHER_ESSAYS[0])
    return [
        AccuracyPage("straight", png_bytes(straight.image), straight.text),
        AccuracyPage("rotated+3", png_bytes(rotated(straight.image, 3)), straight.text),
        AccuracyPage("rotated-2", png_bytes(rotated(other.image, -2)), other.text),
        AccuracyPage("exif", exif_rotated_jpeg(straight.image), straight.text),
    ]


def full_pages() -> list[AccuracyPage]:
    """20-line 1280x960 essays as the benchmark reads them (canvas 1280), straight and
    turned: where int8 CRAFT moved line boxes that the small test pages kept."""
    text = "|".join([*OTHER_ESSAYS, ESSAY] * 2)
    page = render_page(text, width=1280, font_size=26, max_lines=20)
    return [
        AccuracyPage("full", png_bytes(page.image), page.text),
        AccuracyPage("full-rotated+2", png_bytes(rotated(page.image, 2)), page.text),
    ]


def build(settings: OcrSettings) -> tuple[PageDetector, LineRecognizer]:
    placement = Placement("cpu", False)
    return create_detector(settings, placement), create_recognizer(settings, placement)


def read(detector: PageDetector, recognizer: LineRecognizer, data: bytes) -> Reading:
    page = np.asarray(decode_image(data))
    lines = lay_out_lines(page, detector.detect([page])[0])
    results = recognizer.recognize([line.crop for line in lines])
    return Reading([line.box for line in lines], "\n".join(r.text for r in results))


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def box_matches(reference: list[Box], candidate: list[Box]) -> tuple[int, int]:
    """(reference lines with a candidate line at IoU >= MIN_IOU, reference lines)."""
    matched = sum(
        1 for box in reference if candidate and max(iou(box, c) for c in candidate) >= MIN_IOU
    )
    return matched, len(reference)


def cer(truth: str, text: str) -> float:
    return float(jiwer.cer(" ".join(truth.split()), " ".join(text.split())))


def compare(
    pages: list[AccuracyPage], reference: list[Reading], candidate: list[Reading]
) -> dict[str, float]:
    """Mean CER of both, the increase, and the share of reference boxes matched."""
    matched = total = 0
    for ref, cand in zip(reference, candidate, strict=True):
        m, t = box_matches(ref.boxes, cand.boxes)
        matched, total = matched + m, total + t
    ref_cer = float(np.mean([cer(p.truth, r.text) for p, r in zip(pages, reference, strict=True)]))
    cand_cer = float(np.mean([cer(p.truth, c.text) for p, c in zip(pages, candidate, strict=True)]))
    return {
        "cer_torch": ref_cer,
        "cer": cand_cer,
        "cer_increase": cand_cer - ref_cer,
        "box_share": matched / total if total else 1.0,
        "boxes": total,
    }


def keeps_accuracy(result: dict[str, float]) -> bool:
    return result["cer_increase"] <= MAX_CER_INCREASE and result["box_share"] >= MIN_BOX_SHARE
