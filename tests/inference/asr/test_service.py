"""The transcription service between HTTP and the engine, with an engine written here:
Chinese output through OpenCC, and the queue's 429 and 413 answers."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from inference.asr_server.engines.base import Segment, Window, WindowTranscript
from inference.asr_server.serving import TranscriptionRequest, TranscriptionService
from inference.asr_server.settings import AsrSettings, WindowSettings
from inference.asr_server.windowing import plan_windows
from inference.audio import decode_audio
from inference.errors import Overloaded
from inference.settings import BatchSettings
from tests.inference.asr.media import RATE, wav_bytes

SIMPLIFIED = "我们今天学习软件工程，老师说考试范围到第五章。"
TRADITIONAL = "我們今天學習軟體工程，老師說考試範圍到第五章。"

pytestmark = pytest.mark.timeout(60)


class ScriptedEngine:
    """Answers every window with one fixed Chinese segment; can be held to fill the queue."""

    name = "scripted"
    multilingual = True
    lanes = 1

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.batches: list[int] = []

    def transcribe_windows(self, windows: Sequence[Window]) -> list[WindowTranscript]:
        self.release.wait(30)
        self.batches.append(len(windows))
        return [
            WindowTranscript((Segment(0.0, w.seconds, SIMPLIFIED),), w.options.language or "zh")
            for w in windows
        ]

    def close(self) -> None:
        pass


def audio(seconds: float) -> io.BytesIO:
    t = np.arange(int(seconds * RATE)) / RATE
    return io.BytesIO(wav_bytes((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)))


@pytest.fixture
async def service() -> AsyncIterator[tuple[TranscriptionService, ScriptedEngine]]:
    settings = AsrSettings(
        window=WindowSettings(vad=False),
        batch=BatchSettings(max_batch_size=1, max_wait_ms=1.0, max_queue=2),
    )
    engine = ScriptedEngine()
    running = TranscriptionService(engine, settings, ThreadPoolExecutor(1))
    await running.start()
    try:
        yield running, engine
    finally:
        engine.release.set()
        await running.stop()


async def test_chinese_comes_back_traditional(
    service: tuple[TranscriptionService, ScriptedEngine],
) -> None:
    running, _ = service
    result = await running.transcribe(TranscriptionRequest(audio(2.0), language="zh"))
    assert result.language == "zh"
    assert [s.text for s in result.segments] == [TRADITIONAL]


async def test_english_is_left_alone(
    service: tuple[TranscriptionService, ScriptedEngine],
) -> None:
    running, _ = service
    result = await running.transcribe(TranscriptionRequest(audio(2.0), language="en"))
    assert [s.text for s in result.segments] == [SIMPLIFIED]


async def test_full_queue_is_overloaded(
    service: tuple[TranscriptionService, ScriptedEngine],
) -> None:
    running, engine = service
    engine.release.clear()  # the model is busy: windows wait in the queue
    first = asyncio.create_task(running.transcribe(TranscriptionRequest(audio(50.0), "zh")))
    for _ in range(1000):  # 2 windows: one in the model, one queued
        if running.batcher.queue_depth >= 1:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(Overloaded):  # no room for another request's windows in flight
        await running.transcribe(TranscriptionRequest(audio(80.0), "zh"))
    engine.release.set()
    result = await first
    assert [s.text for s in result.segments] == [TRADITIONAL, TRADITIONAL]
    assert engine.batches == [1, 1]  # the refused request never reached the model


async def test_a_file_longer_than_the_queue_streams_through_it(
    service: tuple[TranscriptionService, ScriptedEngine],
) -> None:
    running, engine = service
    depths: list[int] = []
    engine.release.clear()

    async def watch() -> None:
        while True:
            depths.append(running.batcher.queue_depth)
            engine.release.set()  # one batch at a time, while the depth is watched
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        # 10 minutes is 20 windows or so; the queue holds 2, as many as the request keeps
        # in flight.
        result = await running.transcribe(TranscriptionRequest(audio(600.0), "zh"))
    finally:
        watcher.cancel()
    # The same windows as one plan of the whole file (they are cut just short of 30 s).
    windows = len(plan_windows(decode_audio(audio(600.0).getvalue())))
    assert [s.text for s in result.segments] == [TRADITIONAL] * windows
    assert result.duration == pytest.approx(600.0)
    assert max(depths) <= 2
    assert engine.batches == [1] * windows
