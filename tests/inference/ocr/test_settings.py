"""Settings from the environment and the engine factories' known names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inference.device import Placement
from inference.errors import ModelNotReady
from inference.ocr_server.plugins import load_plugin
from inference.ocr_server.recognizers import create_recognizer
from inference.ocr_server.settings import OcrSettings, packaged_weights


def test_defaults_and_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OcrSettings().port == 8102
    monkeypatch.setenv("OCR_PORT", "9000")
    monkeypatch.setenv("OCR_DETECTOR__CANVAS_SIZE", "960")
    monkeypatch.setenv("OCR_RECOGNIZER__ENGINE", "trocr")
    monkeypatch.setenv("OCR_BATCH__MAX_BATCH_SIZE", "16")
    settings = OcrSettings()
    assert settings.port == 9000
    assert settings.detector.canvas_size == 960
    assert settings.detector.batch.max_batch_size == 4  # the detection batch is its own
    assert settings.recognizer.engine == "trocr"
    assert settings.batch.max_batch_size == 16


def test_unknown_engine_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_RECOGNIZER__ENGINE", "tesseract")
    with pytest.raises(ValidationError):
        OcrSettings()


def test_packaged_weights_are_found() -> None:
    assert packaged_weights("craft_mlt_25k.pth").stat().st_size > 80_000_000
    assert OcrSettings().crnn_weights_path().name == "english_g2.pth"


def test_trocr_needs_a_directory() -> None:
    settings = OcrSettings(recognizer={"engine": "trocr"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="TROCR_DIR"):
        create_recognizer(settings, Placement("cpu", False))


def test_a_missing_engine_module_is_a_clear_not_ready() -> None:
    with pytest.raises(ModelNotReady, match="not available"):
        load_plugin("inference.ocr_server.recognizers.no_such_engine")
