"""Engine factory: a known name from the settings to a loaded :class:`AsrEngine`.

Only the names below are accepted. Each backend is imported lazily, so a deployment
carries only what it uses. The Triton engine lives in ``engines/triton.py`` and must
define ``build_engine(settings: AsrSettings) -> AsrEngine``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from inference.asr_server.engines.base import AsrEngine
from inference.asr_server.settings import AsrSettings
from inference.device import choose_placement


def _faster_whisper(settings: AsrSettings) -> AsrEngine:
    from inference.asr_server import embedded
    from inference.asr_server.engines.faster import FasterWhisperEngine

    model_dir = settings.model_path
    if model_dir is None and settings.embedded_model == "base":
        model_dir = embedded.base_dir(settings.model_cache_dir)
    return FasterWhisperEngine(
        model_dir,
        choose_placement(settings.device),
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        lanes=settings.lanes,
        encoder=settings.encoder,
        aligner=settings.aligner,
        beam_size=settings.beam_size,
        max_new_tokens=settings.max_new_tokens,
        tuning_dir=settings.tuning_dir,
    )


def _openai_whisper(settings: AsrSettings) -> AsrEngine:
    from inference.asr_server.engines.openai_whisper import OpenAIWhisperEngine

    if settings.model_path is None:
        raise ValueError("the openai-whisper engine needs ASR_MODEL_PATH (a checkpoint file)")
    return OpenAIWhisperEngine(
        settings.model_path,
        choose_placement(settings.device),
        beam_size=settings.beam_size,
        max_new_tokens=settings.max_new_tokens,
    )


def _transformers(settings: AsrSettings) -> AsrEngine:
    from inference.asr_server.engines.hf import TransformersWhisperEngine

    if settings.model_path is None:
        raise ValueError("the transformers engine needs ASR_MODEL_PATH (a save_pretrained dir)")
    return TransformersWhisperEngine(
        settings.model_path,
        choose_placement(settings.device),
        beam_size=settings.beam_size,
        max_new_tokens=settings.max_new_tokens,
    )


def _triton(settings: AsrSettings) -> AsrEngine:
    try:
        module = importlib.import_module("inference.asr_server.engines.triton")
    except ModuleNotFoundError as exc:
        if exc.name != "inference.asr_server.engines.triton":
            raise
        raise ValueError(
            "the triton engine is not available: inference/asr_server/engines/triton.py is missing"
        ) from exc
    engine: AsrEngine = module.build_engine(settings)
    return engine


ENGINES: dict[str, Callable[[AsrSettings], AsrEngine]] = {
    "faster-whisper": _faster_whisper,
    "openai-whisper": _openai_whisper,
    "transformers": _transformers,
    "triton": _triton,
}


def create_engine(settings: AsrSettings) -> AsrEngine:
    """Load the engine that ``settings.engine`` names (blocking: seconds to minutes)."""
    try:
        build = ENGINES[settings.engine]
    except KeyError:
        raise ValueError(f"unknown ASR engine {settings.engine!r}") from None
    return build(settings)
