"""Each engine against torch float32 on the test pages, within the bounds of issue 15.

Straight, turned (+3 and -2 degrees) and EXIF-rotated pages are read in process by the
torch float32 pipeline and by each engine; the engine's reading must keep the CER within
0.003 of torch's and match at least 98% of torch's line boxes at IoU >= 0.9. The CPU
default is also held to the bounds on 20-line 1280x960 pages at canvas 1280 (the
benchmark's size). The ONNX graphs come from the shared cache (exported by ``make
install``, or here on first use).
"""

from __future__ import annotations

import pytest

from inference.ocr_server.ort.choice import CPU_DEFAULT
from inference.ocr_server.settings import OcrSettings
from tests.inference.ocr.compare import (
    AccuracyPage,
    Reading,
    accuracy_pages,
    build,
    compare,
    full_pages,
    keeps_accuracy,
    read,
)
from tests.support.cpu import needs_bf16, needs_nnpack

pytestmark = pytest.mark.timeout(600)
CANVAS = 960  # as the server tests
FULL_CANVAS = 1280  # as the benchmark
TORCH_FP32 = ("craft", "fp32", "crnn", "fp32")
DEFAULT = ("auto", "auto", "auto", "auto")

# (detector engine, detector precision, recognizer engine, recognizer precision)
ENGINES = [
    DEFAULT,  # what this CPU runs by default (torch bf16 CRAFT on AMX, else ONNX fp32)
    pytest.param(("craft", "bf16", "crnn-onnx", "fp32"), marks=needs_bf16),
    pytest.param(("craft", "winograd", "crnn-onnx", "fp32"), marks=needs_nnpack),
    ("craft-onnx", CPU_DEFAULT["craft"], "crnn-onnx", CPU_DEFAULT["crnn"]),  # non-AMX default
    # On these pages (canvas 960) the int8 CRAFT graphs keep both bounds; on the 1280x960
    # benchmark pages they do not (docs/ocr.md), which is why no default uses them.
    ("craft-onnx", "int8", "crnn", "fp32"),
    ("craft-onnx", "int8-backbone", "crnn", "fp32"),
]


def settings_for(
    detector: str, det_precision: str, recognizer: str, rec_precision: str, canvas: int = CANVAS
) -> OcrSettings:
    return OcrSettings(
        detector={"engine": detector, "precision": det_precision, "canvas_size": canvas},  # type: ignore[arg-type]
        recognizer={"engine": recognizer, "precision": rec_precision},  # type: ignore[arg-type]
    )


def readings(
    engines: tuple[str, str, str, str], pages: list[AccuracyPage], canvas: int
) -> list[Reading]:
    detector, recognizer = build(settings_for(*engines, canvas=canvas))
    return [read(detector, recognizer, page.data) for page in pages]


@pytest.fixture(scope="module")
def pages() -> list[AccuracyPage]:
    return accuracy_pages()


@pytest.fixture(scope="module")
def torch_readings(pages: list[AccuracyPage]) -> list[Reading]:
    return readings(TORCH_FP32, pages, CANVAS)


@pytest.mark.parametrize("engines", ENGINES, ids=lambda e: "+".join(e))
def test_engine_keeps_torch_accuracy(
    engines: tuple[str, str, str, str],
    pages: list[AccuracyPage],
    torch_readings: list[Reading],
) -> None:
    result = compare(pages, torch_readings, readings(engines, pages, CANVAS))
    # The torch reading itself is good (a broken reference would make any engine "match").
    assert result["cer_torch"] < 0.06, result
    assert keeps_accuracy(result), result


def test_the_default_keeps_torch_accuracy_on_full_pages() -> None:
    pages = full_pages()
    reference = readings(TORCH_FP32, pages, FULL_CANVAS)
    result = compare(pages, reference, readings(DEFAULT, pages, FULL_CANVAS))
    assert result["boxes"] == 40, result  # 20 lines a page, all found by torch
    assert result["cer_torch"] < 0.03, result
    assert keeps_accuracy(result), result
