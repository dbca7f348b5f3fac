"""The ``whisper`` Triton model: 16 kHz windows in, text and segments out.

The model is whichever ASR engine of :mod:`inference.asr_server.engines` the config's
``engine`` parameter names, built by the same factory the ASR server uses; Triton's
dynamic batcher hands ``execute`` several windows, and they go to the engine in one
``transcribe_windows`` call, as the server's own batcher would send them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from inference.asr_server.engines.base import DecodeOptions, Window, WindowTranscript
from inference.errors import InvalidRequest
from inference.logs import configure_logging
from triton_models.runtime.common import (
    ModelArgs,
    RuntimeSettings,
    answer_all,
    decode_each,
    input_array,
    input_text,
    require,
    resolve_weights,
    respond,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MAX_WINDOW_SAMPLES = 30 * SAMPLE_RATE
# config.pbtxt parameters passed to AsrSettings as they are (strings, validated there).
ENGINE_PARAMETERS = ("engine", "compute_type", "cpu_threads", "beam_size", "max_new_tokens")


def make_window(audio: np.ndarray | None, language: str, prompt: str, temperature: float) -> Window:
    """Validate one request's inputs and turn them into an engine window."""
    if audio is None:
        raise InvalidRequest("AUDIO is required")
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    require(samples.size > 0, "AUDIO is empty")
    require(samples.size <= MAX_WINDOW_SAMPLES, "AUDIO is longer than 30 seconds")
    require(bool(np.isfinite(samples).all()), "AUDIO holds NaN or infinite samples")
    require(0.0 <= temperature <= 1.0, "TEMPERATURE must lie in [0, 1]")
    options = DecodeOptions(
        language=language.strip().lower() or None,
        prompt=prompt.strip() or None,
        temperature=temperature,
    )
    return Window(samples, options)


def transcript_outputs(transcript: WindowTranscript) -> dict[str, str]:
    """TEXT, SEGMENTS (JSON list of {start, end, text}) and DETECTED_LANGUAGE of a window."""
    segments = [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]
    return {
        "TEXT": " ".join(s.text for s in transcript.segments).strip(),
        "SEGMENTS": json.dumps(segments, ensure_ascii=False),
        "DETECTED_LANGUAGE": transcript.language,
    }


class TritonPythonModel:
    """Entry point Triton's python backend instantiates (see ``whisper/1/model.py``)."""

    def initialize(self, args: Mapping[str, str]) -> None:
        from inference.asr_server.engines import create_engine
        from inference.asr_server.settings import AsrSettings

        settings = RuntimeSettings()
        configure_logging(settings.log_level)
        model = ModelArgs.parse(args)
        params = model.parameters
        if params.get("engine") == "triton":
            raise ValueError("the whisper model cannot use the triton engine (it is Triton)")
        device = "cuda" if model.placement().device == "cuda" else "cpu"
        asr = AsrSettings(
            model_path=resolve_weights(
                params.get("weights", ""), model.version, settings.weights_root
            ),
            device=device,
            **{key: params[key] for key in ENGINE_PARAMETERS if params.get(key)},  # type: ignore[arg-type]
        )
        self._engine = create_engine(asr)
        self._multilingual = bool(self._engine.multilingual)
        log.info(
            "whisper model ready",
            extra={"version": model.version, "engine": asr.engine, "device": device},
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        decoded = decode_each(requests, self._decode)
        answers = answer_all(decoded, self._engine.transcribe_windows)
        return respond(answers, self._encode)

    def finalize(self) -> None:
        self._engine.close()

    def _decode(self, request: Any) -> Window:
        temperature = input_array(request, "TEMPERATURE")
        return make_window(
            input_array(request, "AUDIO"),
            input_text(request, "LANGUAGE"),
            input_text(request, "PROMPT"),
            float(temperature.reshape(-1)[0]) if temperature is not None else 0.0,
        )

    def _encode(self, transcript: WindowTranscript) -> list[Any]:
        import triton_python_backend_utils as pb_utils

        tensors = [
            pb_utils.Tensor(name, np.array([[value.encode("utf-8")]], dtype=np.object_))
            for name, value in transcript_outputs(transcript).items()
        ]
        multilingual = np.array([[self._multilingual]], dtype=np.bool_)
        return [*tensors, pb_utils.Tensor("MULTILINGUAL", multilingual)]
