"""Which Whisper encoder runs on a CPU: CTranslate2's own, or PyTorch float32 or bfloat16.

``ASR_ENCODER=auto`` times the candidates on this CPU (two 30 s windows each, on one
lane's threads) and keeps the fastest; the choice is cached per machine
(:mod:`inference.tuning`). The PyTorch encoders are candidates where the model's encoder
is stored unquantized, bfloat16 only where the CPU has bfloat16 instructions (AMX or
AVX-512 BF16); their states and words are held to CTranslate2's in
tests/inference/asr/test_torch_encoder.py. Measured (2 cores, tiny.en): bfloat16 3x
CTranslate2's int8 on an AMX Xeon, 1.5x on an AVX-512 BF16 EPYC; float32 1.2x on a
Zen 3 EPYC with AVX2 only.
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
TORCH_FP32 = "torch-fp32"
_PRECISION = {TORCH_BF16: "bf16", TORCH_FP32: "fp32"}
_TIMED_WINDOWS = 2


@dataclass(frozen=True)
class EncoderChoice:
    choice: tuning.Choice
    loaded: Any  # the TorchEncoder when one was chosen, else None (CTranslate2 encodes)


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
        loaded = _torch_encoder(model_dir, threads, setting) if setting in _PRECISION else None
        return EncoderChoice(tuning.explicit(PART, setting), loaded)
    key = choice_key(model_dir, threads)
    cache_dir = tuning_dir or tuning.default_dir()
    names = [CTRANSLATE2, TORCH_FP32] + ([TORCH_BF16] if cpu_has_bf16() else [])
    cached = tuning.cached_choice(PART, names, cache_dir, key)
    if cached is not None:  # only the winner is loaded
        return EncoderChoice(cached, _torch_encoder(model_dir, threads, cached.engine))
    candidates = [tuning.Candidate(CTRANSLATE2, _timed(model, None))]
    encoders = {name: _eligible_torch_encoder(model_dir, threads, name) for name in names[1:]}
    for name, encoder in encoders.items():
        if encoder is not None:
            candidates.append(tuning.Candidate(name, _timed(model, encoder)))
    choice = tuning.choose(PART, candidates, cache_dir, key)
    return EncoderChoice(choice, encoders.get(choice.engine))


def choice_key(model_dir: Path, threads: int) -> dict[str, str]:
    """What the engine's measured choices (encoder, aligner) depend on."""
    return tuning.machine_key(
        ("ctranslate2", "torch", "faster-whisper"),
        {"model": _model_id(model_dir), "threads_per_lane": str(threads)},
    )


def _torch_encoder(model_dir: Path, threads: int, engine: str) -> Any:
    """The PyTorch encoder ``engine`` names; None for CTranslate2's own."""
    if engine not in _PRECISION:
        return None
    from inference.asr_server.engines.torch_encoder import TorchEncoder

    return TorchEncoder(model_dir, threads, _PRECISION[engine])  # type: ignore[arg-type]


def _eligible_torch_encoder(model_dir: Path, threads: int, engine: str) -> Any:
    try:
        return _torch_encoder(model_dir, threads, engine)
    except ValueError as exc:  # a quantized model.bin: its encoder stays in CTranslate2
        log.info("PyTorch encoder not a candidate", extra={"engine": engine, "reason": str(exc)})
        return None


def _timed(model: Any, torch_encoder: Any) -> Any:
    """One unit of work: encode two 30 s windows of a deterministic signal."""
    batch = probe_features(model, _TIMED_WINDOWS)

    def run() -> object:
        if torch_encoder is None:
            return model.encode(batch)  # as the engine encodes (faster-whisper's call)
        return torch_encoder.encode(batch)

    return run


def probe_features(model: Any, windows: int) -> np.ndarray:
    """Mel features [windows, mels, 3000] of a fixed 30 s signal: the work the measured
    choices time (a tone in noise; the same on every machine)."""
    rng = np.random.default_rng(0)
    seconds = np.arange(30 * 16_000, dtype=np.float32) / 16_000
    audio = 0.1 * np.sin(2 * np.pi * 220 * seconds) + 0.02 * rng.standard_normal(seconds.size)
    features = model.feature_extractor(audio.astype(np.float32))[..., :3000]
    return np.ascontiguousarray(np.stack([features] * windows).astype(np.float32))


def _model_id(model_dir: Path) -> str:
    binary = model_dir / "model.bin"
    size = binary.stat().st_size if binary.exists() else 0
    return f"{model_dir.name}:{size}"
