"""The transcription service: decode, cut into windows, batch across requests, stitch.

Everything blocking (decoding, VAD, the model) runs off the event loop: decoding and
VAD on worker threads, the model on the batcher's single executor thread.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from prometheus_client import Counter

from inference.asr_server.chinese import ChineseConverter
from inference.asr_server.engines.base import (
    AsrEngine,
    DecodeOptions,
    Segment,
    Window,
    WindowTranscript,
)
from inference.asr_server.settings import AsrSettings
from inference.asr_server.windowing import SAMPLE_RATE, Span, plan_windows, speech_spans
from inference.audio import AudioLimits, decode_audio
from inference.batcher import DynamicBatcher
from inference.errors import InvalidRequest, MediaTooLarge, Overloaded

log = logging.getLogger(__name__)

AUDIO_SECONDS = Counter("asr_audio_seconds_total", "Seconds of audio transcribed")
WINDOWS = Counter("asr_windows_total", "Windows sent to the model")

# Whisper's language codes, from the openai-whisper tokenizer (importing it loads no model).
_LANGUAGE_CODES: frozenset[str] | None = None


def known_languages() -> frozenset[str]:
    global _LANGUAGE_CODES
    if _LANGUAGE_CODES is None:
        from whisper.tokenizer import LANGUAGES

        _LANGUAGE_CODES = frozenset(LANGUAGES)
    return _LANGUAGE_CODES


@dataclass(frozen=True)
class TranscriptionRequest:
    data: bytes
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0


@dataclass(frozen=True)
class TranscriptionResult:
    segments: list[Segment]
    language: str
    duration: float


class TranscriptionService:
    def __init__(
        self, engine: AsrEngine, settings: AsrSettings, model_thread: ThreadPoolExecutor
    ) -> None:
        self.engine = engine
        self._model_thread = model_thread
        self._settings = settings
        self._limits = AudioLimits(
            max_bytes=settings.max_upload_bytes, max_seconds=settings.max_audio_seconds
        )
        self._converter = ChineseConverter(settings.opencc_config)
        batch = settings.batch
        self.batcher: DynamicBatcher[Window, WindowTranscript] = DynamicBatcher(
            "asr",
            engine.transcribe_windows,
            max_batch_size=batch.max_batch_size,
            max_wait_ms=batch.max_wait_ms,
            max_queue=batch.max_queue,
            executor=model_thread,
        )
        self._max_queue = batch.max_queue

    async def start(self) -> None:
        await asyncio.to_thread(known_languages)  # imports a tokenizer module: not on the loop
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        await asyncio.get_running_loop().run_in_executor(self._model_thread, self.engine.close)
        self._model_thread.shutdown(wait=True)

    async def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        options = DecodeOptions(
            language=self._check_language(request.language),
            prompt=(request.prompt or "").strip() or None,
            temperature=request.temperature,
        )
        if self.batcher.queue_depth >= self._max_queue:  # before paying for the decode
            raise Overloaded("too many requests are waiting; retry later")
        audio = await asyncio.to_thread(decode_audio, request.data, self._limits)
        spans = await asyncio.to_thread(self._plan, audio)
        if len(spans) > self._max_queue:  # could never fit, however long it waited
            raise MediaTooLarge(
                f"the audio needs {len(spans)} windows, more than this service queues at once "
                f"({self._max_queue}); send it in shorter parts"
            )
        # Refuse the whole request up front rather than queue half of its windows.
        if self.batcher.queue_depth + len(spans) > self._max_queue:
            raise Overloaded("too many requests are waiting; retry later")
        windows = [Window(audio[s.start : s.end], options) for s in spans]
        transcripts = await self.batcher.submit_many(windows)
        WINDOWS.inc(len(windows))
        duration = audio.shape[0] / SAMPLE_RATE
        AUDIO_SECONDS.inc(duration)
        segments = stitch(spans, [t.segments for t in transcripts])
        language = options.language or (transcripts[0].language if transcripts else "en")
        if self._converter.applies_to(language):
            segments = [Segment(s.start, s.end, self._converter.convert(s.text)) for s in segments]
        return TranscriptionResult(segments, language, duration)

    def _plan(self, audio: np.ndarray) -> list[Span]:
        window = self._settings.window
        long_audio = audio.shape[0] > window.max_seconds * SAMPLE_RATE
        use_vad = window.vad and long_audio
        speech = speech_spans(audio, window.vad_min_silence_ms) if use_vad else None
        return plan_windows(
            audio, max_seconds=window.max_seconds, min_seconds=window.min_seconds, speech=speech
        )

    def _check_language(self, language: str | None) -> str | None:
        language = (language or self._settings.default_language or "").strip().lower() or None
        if language is None:
            return None
        if language not in known_languages():
            raise InvalidRequest(f"unknown language code {language!r}")
        if not self.engine.multilingual and language != "en":
            raise InvalidRequest("the loaded model is English-only; use language=en")
        return language


def stitch(spans: list[Span], per_window: list[tuple[Segment, ...]]) -> list[Segment]:
    """Window-relative segments to file time, in order, with non-decreasing timestamps."""
    stitched: list[Segment] = []
    for span, segments in zip(spans, per_window, strict=True):
        offset = span.offset_seconds
        end_of_window = span.end / SAMPLE_RATE
        for segment in segments:
            floor = stitched[-1].end if stitched else 0.0
            start = max(offset + segment.start, floor)
            end = min(max(offset + segment.end, start), end_of_window)
            stitched.append(Segment(start, max(end, start), segment.text))
    return stitched
