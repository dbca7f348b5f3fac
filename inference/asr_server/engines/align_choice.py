"""Which word alignment runs on a CPU: CTranslate2's ``align``, or PyTorch float32.

``ASR_ALIGNER=auto`` times both on this CPU (one 30 s window of a hundred tokens, on one
lane's threads) and keeps the faster, cached per machine like the encoder
(:mod:`inference.tuning`). The PyTorch aligner is a candidate where the model's decoder
is stored unquantized and names its alignment heads; its word times are held to
CTranslate2's in tests/inference/asr/test_torch_aligner.py. Measured (Zen 3 EPYC, AVX2,
one thread, tiny.en): see engines/torch_aligner.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from inference import tuning
from inference.asr_server.engines.encoder_choice import choice_key, probe_features
from inference.device import Placement

log = logging.getLogger(__name__)

PART = "asr-align"
CTRANSLATE2 = "ctranslate2"
TORCH_FP32 = "torch-fp32"
_TEXT = (
    " Today we look at how a lecture becomes text: the recording is cut into windows of"
    " thirty seconds, each window is encoded once, and the decoder writes the words it"
    " hears, one token at a time, until it reaches the end of the speech in the window."
)


def choose_aligner(
    model: Any,
    model_dir: Path,
    placement: Placement,
    setting: str,
    threads: int,
    tuning_dir: Path | None,
) -> tuple[tuning.Choice, Any]:
    """The choice, and the TorchAligner when it was chosen (else None: CTranslate2 aligns).
    ``model`` is the loaded faster-whisper ``WhisperModel``."""
    if placement.device != "cpu":
        return tuning.explicit(PART, CTRANSLATE2), None
    if setting != "auto":
        loaded = _torch_aligner(model_dir, threads) if setting == TORCH_FP32 else None
        return tuning.explicit(PART, setting), loaded
    key = choice_key(model_dir, threads)
    cache_dir = tuning_dir or tuning.default_dir()
    names = [CTRANSLATE2, TORCH_FP32]
    cached = tuning.cached_choice(PART, names, cache_dir, key)
    if cached is not None:  # only the winner is loaded
        return cached, (_torch_aligner(model_dir, threads) if cached.engine == TORCH_FP32 else None)
    try:
        aligner = _torch_aligner(model_dir, threads)
    except ValueError as exc:  # a quantized decoder, or no alignment heads named
        log.info("PyTorch aligner not a candidate", extra={"reason": str(exc)})
        aligner = None
    candidates = [tuning.Candidate(CTRANSLATE2, _timed(model, None))]
    if aligner is not None:
        candidates.append(tuning.Candidate(TORCH_FP32, _timed(model, aligner)))
    choice = tuning.choose(PART, candidates, cache_dir, key)
    return choice, (aligner if choice.engine == TORCH_FP32 else None)


def _torch_aligner(model_dir: Path, threads: int) -> Any:
    from inference.asr_server.engines.torch_aligner import TorchAligner

    return TorchAligner(model_dir, threads)


def _timed(model: Any, aligner: Any) -> Any:
    """One unit of work: align a hundred tokens to one 30 s window of a fixed signal."""
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    states = np.asarray(model.encode(probe_features(model, 1)))
    multilingual = bool(model.model.is_multilingual)
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language="en")
    tokens = tokenizer.encode(_TEXT)

    def run() -> object:
        if aligner is None:  # as the engine aligns (faster-whisper's call)
            view = ctranslate2.StorageView.from_array(states)
            return model.find_alignment(tokenizer, [tokens], view, [3000])
        return aligner.align(tokenizer, tokens, states[0], 3000)

    return run
