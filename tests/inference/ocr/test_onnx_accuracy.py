"""Each ONNX Runtime engine against torch float32 on the test pages, within the bounds.

Straight, turned (+3 and -2 degrees) and EXIF-rotated pages are read in process by the
torch pipeline and by each ONNX one; the ONNX reading must keep the CER within 0.003 of
torch's and match at least 98% of torch's line boxes at IoU >= 0.9. The graphs come from
the shared cache (exported by ``make install``, or here on first use).
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
    keeps_accuracy,
    read,
)

pytestmark = pytest.mark.timeout(600)
CANVAS = 960  # as the server tests

# (detector engine, detector precision, recognizer engine, recognizer precision)
# On these pages (canvas 960) the int8 graphs keep both bounds; on the benchmark's 1280x960
# pages int8 CRAFT does not (bench/results/ocr.json), which is why the default is float32.
ENGINES = [
    ("craft-onnx", CPU_DEFAULT["craft"], "crnn-onnx", CPU_DEFAULT["crnn"]),  # the CPU default
    ("craft-onnx", "int8", "crnn", "fp32"),
    ("craft-onnx", "int8-backbone", "crnn", "fp32"),
    ("craft", "fp32", "crnn-onnx", "int8"),
]


def settings_for(
    detector: str, det_precision: str, recognizer: str, rec_precision: str
) -> OcrSettings:
    return OcrSettings(
        detector={"engine": detector, "precision": det_precision, "canvas_size": CANVAS},  # type: ignore[arg-type]
        recognizer={"engine": recognizer, "precision": rec_precision},  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def pages() -> list[AccuracyPage]:
    return accuracy_pages()


@pytest.fixture(scope="module")
def torch_readings(pages: list[AccuracyPage]) -> list[Reading]:
    detector, recognizer = build(settings_for("craft", "fp32", "crnn", "fp32"))
    return [read(detector, recognizer, page.data) for page in pages]


@pytest.mark.parametrize("engines", ENGINES, ids=lambda e: "+".join(e))
def test_onnx_engine_keeps_torch_accuracy(
    engines: tuple[str, str, str, str],
    pages: list[AccuracyPage],
    torch_readings: list[Reading],
) -> None:
    detector, recognizer = build(settings_for(*engines))
    readings = [read(detector, recognizer, page.data) for page in pages]
    result = compare(pages, torch_readings, readings)
    # The torch reading itself is good (a broken reference would make any engine "match").
    assert result["cer_torch"] < 0.06, result
    assert keeps_accuracy(result), result
