"""Which Whisper encoder runs on a CPU: CTranslate2's own, or PyTorch bfloat16.

``ASR_ENCODER=auto`` times both on this CPU (two 30 s windows each, on one lane's
threads) and keeps the faster; the choice is cached per machine (:mod:`inference.tuning`).
The bfloat16 encoder is a candidate only where the CPU has bfloat16 instructions (AMX or
AVX-512 BF16) and the model's encoder is stored unquantized; its words are held to
CTranslate2's in tests/inference/asr/test_torch_encoder.py. Measured: 3x CTranslate2's
int8 on an AMX Xeon, 1.5x on an AVX-512 BF16 EPYC (2 cores, tiny.en).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference import tuning
from inference.device import Placement, cpu_has_bf16

log = logging.getLogger(__name__)

PART = "asr-encoder"
CTRANSLATE2 = "ctranslate2"
TORCH_BF16 = "torch-bf16"
_TIMED_WINDOWS = 2


@dataclass(frozen=True)
class EncoderChoice:
    choice: tuning.Choice
    loaded: Any  # the TorchEncoder when it was chosen, else None (CTranslate2 encodes)


def choose_encoder(
    model: Any,
    model_dir: Path,
    placement: Placement,
    setting: str,
    threads: int,
    tuning_dir: Path | None,
) -> EncoderChoice:
    """``model`` is the loaded faster-whisper ``WhisperModel``."""
    if placement.device != "cpu":
        return EncoderChoice(tuning.explicit(PART, CTRANSLATE2), None)  # float16 on the GPU
    if setting != "auto":
        loaded = _torch_encoder(model_dir, threads) if setting == TORCH_BF16 else None
        return EncoderChoice(tuning.explicit(PART, setting), loaded)
    key = tuning.machine_key(
        ("ctranslate2", "torch", "faster-whisper"),
        {"model": _model_id(model_dir), "threads_per_lane": str(threads)},
    )
    cache_dir = tuning_dir or tuning.default_dir()
    torch_encoder = None
    if cpu_has_bf16():
        cached = tuning.cached_choice(PART, [CTRANSLATE2, TORCH_BF16], cache_dir, key)
        if cached is not None:  # only the winner is loaded
            loaded = _torch_encoder(model_dir, threads) if cached.engine == TORCH_BF16 else None
            return EncoderChoice(cached, loaded)
        torch_encoder = _eligible_torch_encoder(model_dir, threads)
    candidates = [tuning.Candidate(CTRANSLATE2, _timed(model, None))]
    if torch_encoder is not None:
        candidates.append(tuning.Candidate(TORCH_BF16, _timed(model, torch_encoder)))
    choice = tuning.choose(PART, candidates, cache_dir, key)
    return EncoderChoice(choice, torch_encoder if choice.engine == TORCH_BF16 else None)


def _torch_encoder(model_dir: Path, threads: int) -> Any:
    from inference.asr_server.engines.torch_encoder import TorchEncoder

    return TorchEncoder(model_dir, threads)


def _eligible_torch_encoder(model_dir: Path, threads: int) -> Any:
    try:
        return _torch_encoder(model_dir, threads)
    except ValueError as exc:  # a quantized model.bin: its encoder stays in CTranslate2
        log.info("bfloat16 encoder not a candidate", extra={"reason": str(exc)})
        return None


def _timed(model: Any, torch_encoder: Any) -> Any:
    """One unit of work: encode two 30 s windows of a deterministic signal."""
    rng = np.random.default_rng(0)
    seconds = np.arange(30 * 16_000, dtype=np.float32) / 16_000
    audio = 0.1 * np.sin(2 * np.pi * 220 * seconds) + 0.02 * rng.standard_normal(seconds.size)
    features = model.feature_extractor(audio.astype(np.float32))[..., :3000]
    batch = np.ascontiguousarray(np.stack([features] * _TIMED_WINDOWS).astype(np.float32))

    def run() -> object:
        if torch_encoder is None:
            return model.encode(batch)  # as the engine encodes (faster-whisper's call)
        return torch_encoder.encode(batch)

    return run


def _model_id(model_dir: Path) -> str:
    binary = model_dir / "model.bin"
    size = binary.stat().st_size if binary.exists() else 0
    return f"{model_dir.name}:{size}"
