"""The transcription service: decode, pack speech into windows, batch across requests, stitch.

Everything blocking (decoding, VAD, the model) runs off the event loop: decoding and
VAD on worker threads, the model on the batcher's single executor thread. Each window
is decoded by :func:`decoding.decode_window` (fallback, unfinished tails), and all the
model calls of all requests meet in one :class:`DynamicBatcher`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from prometheus_client import Counter

from inference.asr_server.chinese import ChineseConverter
from inference.asr_server.decoding import DecodedWindow, DecodePolicy, decode_window
from inference.asr_server.engines.base import (
    AsrEngine,
    DecodeOptions,
    Segment,
    Task,
    Window,
    WindowTranscript,
    Word,
)
from inference.asr_server.settings import AsrSettings
from inference.asr_server.windowing import (
    SAMPLE_RATE,
    Span,
    WindowPlan,
    pack_windows,
    plan_windows,
    speech_spans,
)
from inference.audio import AudioLimits, decode_audio
from inference.batcher import DynamicBatcher
from inference.errors import InvalidRequest, MediaTooLarge, Overloaded

log = logging.getLogger(__name__)

AUDIO_SECONDS = Counter("asr_audio_seconds_total", "Seconds of audio transcribed")
WINDOWS = Counter("asr_windows_total", "Windows sent to the model")
RETRIES = Counter("asr_window_retries_total", "Extra model calls for a window", ["reason"])

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
    timestamps: bool = True  # segment times wanted (verbose_json, srt, vtt)
    words: bool = False
    task: Task = "transcribe"


@dataclass(frozen=True)
class TranscriptionResult:
    segments: list[Segment]
    language: str
    duration: float


@dataclass(frozen=True)
class WindowText:
    """One finished window of a streamed transcription, in file order."""

    index: int
    segments: list[Segment]  # file time, converted (OpenCC) when Chinese
    language: str


@dataclass
class TranscriptionJob:
    plans: list[WindowPlan]
    audio: np.ndarray
    options: DecodeOptions
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
        decode = settings.decode
        self._policy = DecodePolicy(
            temperatures=decode.temperature_fallback,
            compression_ratio_threshold=decode.compression_ratio_threshold,
            logprob_threshold=decode.logprob_threshold,
            tail_seconds=decode.tail_seconds,
            max_tail_passes=decode.max_tail_passes,
            align_text=decode.align_text,
        )
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
        job = await self.prepare(request)
        segments: list[Segment] = []
        language = job.options.language or "en"
        async for window in self.windows(job):
            segments += window.segments
            language = window.language if window.index == 0 else language
        return TranscriptionResult(segments, language, job.duration)

    async def prepare(self, request: TranscriptionRequest) -> TranscriptionJob:
        """Everything that can refuse the request: run before a stream's first byte."""
        timestamps = request.timestamps or request.words or not self._settings.decode.text_only
        options = DecodeOptions(
            language=self._check_language(request.language),
            prompt=(request.prompt or "").strip() or None,
            temperature=request.temperature,
            timestamps=timestamps,
            words=request.words or (self._policy.align_text and not timestamps),
            task=request.task if self.engine.multilingual else "transcribe",
        )
        if self.batcher.queue_depth >= self._max_queue:  # before paying for the decode
            raise Overloaded("too many requests are waiting; retry later")
        audio = await asyncio.to_thread(decode_audio, request.data, self._limits)
        plans = await asyncio.to_thread(self._plan, audio)
        if len(plans) > self._max_queue:  # could never fit, however long it waited
            raise MediaTooLarge(
                f"the audio needs {len(plans)} windows, more than this service queues at once "
                f"({self._max_queue}); send it in shorter parts"
            )
        # Refuse the whole request up front rather than queue half of its windows.
        if self.batcher.queue_depth + len(plans) > self._max_queue:
            raise Overloaded("too many requests are waiting; retry later")
        duration = audio.shape[0] / SAMPLE_RATE
        AUDIO_SECONDS.inc(duration)
        return TranscriptionJob(plans, audio, options, duration)

    async def windows(self, job: TranscriptionJob) -> AsyncIterator[WindowText]:
        """Each window's text in file order, as soon as it and those before it are done."""
        if not job.plans:
            return
        options = job.options
        first = asyncio.ensure_future(self._decode(job, 0, options))
        tasks = [first]
        try:
            if options.language is None and self.engine.multilingual:
                # One language for the whole file, detected in its first window.
                options = replace(options, language=(await first).language)
            tasks += [
                asyncio.ensure_future(self._decode(job, i, options))
                for i in range(1, len(job.plans))
            ]
            language = options.language or (await first).language
            for index, task in enumerate(tasks):
                decoded = await task
                yield WindowText(index, self._finish(job.plans[index], decoded), language)
        finally:
            for task in tasks:
                task.cancel()  # a client gone mid-stream: its windows leave the queue unrun

    async def _decode(
        self, job: TranscriptionJob, index: int, options: DecodeOptions
    ) -> DecodedWindow:
        audio = job.plans[index].audio(job.audio)
        decoded = await decode_window(self.batcher.submit, audio, options, self._policy)
        WINDOWS.inc(decoded.calls)
        if decoded.fallbacks:
            RETRIES.labels("fallback").inc(decoded.fallbacks)
        if decoded.tails:
            RETRIES.labels("tail").inc(decoded.tails)
        return decoded

    def _finish(self, plan: WindowPlan, decoded: DecodedWindow) -> list[Segment]:
        segments = to_file_time(plan, decoded.segments)
        language = decoded.language
        if self._converter.applies_to(language):
            segments = [
                Segment(s.start, s.end, self._converter.convert(s.text), s.words) for s in segments
            ]
        return segments

    def _plan(self, audio: np.ndarray) -> list[WindowPlan]:
        window = self._settings.window
        if window.vad:
            speech = speech_spans(
                audio, window.vad_min_silence_ms, window.vad_pad_ms, window.max_seconds
            )
            return pack_windows(speech, max_seconds=window.max_seconds)
        spans = plan_windows(audio, max_seconds=window.max_seconds, min_seconds=window.min_seconds)
        return [WindowPlan((span,)) for span in spans]

    def _check_language(self, language: str | None) -> str | None:
        language = (language or self._settings.default_language or "").strip().lower() or None
        if language is None:
            return None
        if language not in known_languages():
            raise InvalidRequest(f"unknown language code {language!r}")
        if not self.engine.multilingual and language != "en":
            raise InvalidRequest("the loaded model is English-only; use language=en")
        return language


def to_file_time(plan: WindowPlan, segments: tuple[Segment, ...]) -> list[Segment]:
    """Window-relative segments (and words) to file time, clamped to the window."""
    out: list[Segment] = []
    for segment in segments:
        start = plan.to_file_time(segment.start)
        end = max(plan.to_file_time(segment.end, is_end=True), start)
        words = tuple(
            Word(plan.to_file_time(w.start), plan.to_file_time(w.end, is_end=True), w.word)
            for w in segment.words
        )
        out.append(Segment(start, end, segment.text, words))
    return out


def stitch(spans: list[Span], per_window: list[tuple[Segment, ...]]) -> list[Segment]:
    """Window-relative segments of tiled windows to file time, with non-decreasing times."""
    stitched: list[Segment] = []
    for span, segments in zip(spans, per_window, strict=True):
        for segment in to_file_time(WindowPlan((span,)), segments):
            floor = stitched[-1].end if stitched else 0.0
            start = max(segment.start, floor)
            stitched.append(Segment(start, max(segment.end, start), segment.text, segment.words))
    return stitched
