"""The transcription service: decode, pack speech into windows, batch across requests, stitch.

Everything blocking (decoding, VAD, the model) runs off the event loop: decoding and
VAD on worker threads, the model on the batcher's single executor thread. Each window
is decoded by :func:`decoding.decode_window` (fallback, unfinished tails), and all the
model calls of all requests meet in one :class:`DynamicBatcher`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import BinaryIO

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
from inference.asr_server.stream_plan import PlannedWindow, StreamPlanner
from inference.asr_server.windowing import SAMPLE_RATE, Span, WindowPlan
from inference.audio import AudioLimits, AudioSource, open_audio
from inference.batcher import DynamicBatcher
from inference.errors import CorruptMedia, InvalidRequest, Overloaded

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
    file: BinaryIO  # seekable: an upload spooled to disk, or bytes in a BytesIO
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
    done_s: float  # the file is transcribed up to here (its duration after the last window)


@dataclass
class TranscriptionJob:
    """An admitted request: its audio opened and checked, its first block decoded."""

    source: AudioSource
    blocks: Iterator[np.ndarray]  # the source's samples, the first block already taken
    first_block: np.ndarray
    options: DecodeOptions
    total_s: float  # the declared duration (an estimate for some mp3s) until decoding ends
    # Held while a thread reads the next block: the file is closed only after that read.
    reading: threading.Lock = field(default_factory=threading.Lock)

    @property
    def duration(self) -> float:
        return self.source.decoded_samples / SAMPLE_RATE

    def next_block(self) -> np.ndarray | None:
        with self.reading:
            return next(self.blocks, None)

    def close(self) -> None:
        with self.reading:
            self.source.close()


_Ready = asyncio.Queue[tuple[PlannedWindow, "asyncio.Future[DecodedWindow]"] | None]


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
            lanes=engine.lanes,
        )
        self._max_queue = batch.max_queue
        # Windows of one request decoded or waiting at once: two batches' worth per lane
        # keeps the model busy while the next block is decoded, and bounds the memory.
        self._inflight = max(1, min(2 * batch.max_batch_size * engine.lanes, batch.max_queue))

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
        # Before paying for the decode: room for this request's windows in flight.
        if self.batcher.queue_depth + self._inflight > self._max_queue:
            raise Overloaded("too many requests are waiting; retry later")
        source = await asyncio.to_thread(open_audio, request.file, self._limits)
        blocks = source.blocks(self._settings.window.block_seconds)
        try:  # the first block now: a file damaged from its start gets a status code
            first = await asyncio.to_thread(next, blocks, None)
        except BaseException:
            source.close()
            raise
        if first is None:  # pragma: no cover - blocks() raises when nothing decodes
            source.close()
            raise CorruptMedia("no audio could be decoded from the file")
        total = source.declared_seconds or first.shape[0] / SAMPLE_RATE
        return TranscriptionJob(source, blocks, first, options, total)

    async def windows(self, job: TranscriptionJob) -> AsyncIterator[WindowText]:
        """Each window's text in file order, as soon as it and those before it are done.

        The audio is decoded and planned block by block while earlier windows are in the
        model; at most ``inflight`` windows of the request wait at once, so its memory
        does not grow with the file.
        """
        ready: _Ready = asyncio.Queue()
        room = asyncio.Semaphore(self._inflight)  # taken per window queued, given back when sent
        producer = asyncio.ensure_future(self._produce(job, ready, room))
        language = job.options.language or "en"
        index = 0
        task: asyncio.Future[DecodedWindow] | None = None
        try:
            while (item := await ready.get()) is not None:
                window, task = item
                decoded = await task
                if index == 0:
                    language = job.options.language or decoded.language
                segments = self._finish(window.plan, decoded)
                room.release()
                yield WindowText(index, segments, language, window.plan.end_seconds)
                index += 1
            await producer  # raises a decoding error that came after the last window
            job.total_s = job.duration
            AUDIO_SECONDS.inc(job.duration)
            # No text: the file's end, for progress (and its language when it had no speech).
            yield WindowText(index, [], language, job.duration)
        finally:
            # A client gone mid-stream: its windows leave the batcher's queue unrun.
            producer.cancel()
            if task is not None:
                task.cancel()
            while not ready.empty():
                item = ready.get_nowait()
                if item is not None:
                    item[1].cancel()
            # In a thread: it waits for a block being read (closing under it would crash).
            asyncio.get_running_loop().run_in_executor(None, job.close)

    async def _produce(self, job: TranscriptionJob, ready: _Ready, room: asyncio.Semaphore) -> None:
        """Decode and plan the audio block by block, and queue each window's decode."""
        planner = StreamPlanner(self._settings.window)
        options = job.options
        detect = options.language is None and self.engine.multilingual
        block: np.ndarray | None = job.first_block
        try:
            while True:
                if block is None:
                    windows = await asyncio.to_thread(planner.finish)
                else:
                    windows = await asyncio.to_thread(planner.feed, block)
                for window in windows:
                    await room.acquire()
                    task = asyncio.ensure_future(self._decode(window.audio, options))
                    ready.put_nowait((window, task))
                    if detect:  # one language for the whole file, heard in its first window
                        options = replace(options, language=(await task).language)
                        detect = False
                if block is None:
                    break
                block = await asyncio.to_thread(job.next_block)
        except asyncio.CancelledError:
            raise
        except BaseException:
            ready.put_nowait(None)  # the consumer drains what is queued, then sees the error
            raise
        ready.put_nowait(None)

    async def _decode(self, audio: np.ndarray, options: DecodeOptions) -> DecodedWindow:
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
