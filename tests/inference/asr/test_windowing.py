"""Windowing, timestamp parsing and stitching: pure functions, plus the real Silero VAD."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydantic import ValidationError

from inference.asr_server.engines.base import Segment, split_timestamped
from inference.asr_server.serving import stitch
from inference.asr_server.settings import WindowSettings
from inference.asr_server.windowing import SAMPLE_RATE, Span, plan_windows, speech_spans
from tests.inference.asr.conftest import Speech

SR = SAMPLE_RATE


def assert_tiles(windows: list[Span], total: int, max_seconds: float = 30.0) -> None:
    assert windows[0].start == 0
    assert windows[-1].end == total
    for a, b in itertools.pairwise(windows):
        assert a.end == b.start  # no gap (lost words), no overlap (doubled words)
    assert all(0 < w.end - w.start <= max_seconds * SR for w in windows)


def test_short_audio_is_one_window() -> None:
    audio = np.ones(10 * SR, dtype=np.float32)
    assert plan_windows(audio) == [Span(0, 10 * SR)]


def test_cuts_land_in_the_latest_pause_that_fits() -> None:
    audio = np.ones(70 * SR, dtype=np.float32)
    speech = [
        Span(0, 12 * SR),
        Span(13 * SR, 27 * SR),
        Span(28 * SR, 45 * SR),
        Span(46 * SR, 70 * SR),
    ]
    windows = plan_windows(audio, speech=speech)
    assert_tiles(windows, audio.shape[0])
    assert [w.end for w in windows[:-1]] == [int(27.5 * SR), int(45.5 * SR)]


def test_without_a_pause_the_quietest_point_is_cut() -> None:
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, 65 * SR).astype(np.float32)
    quiet = 23 * SR
    audio[quiet : quiet + SR // 10] = 0.0
    windows = plan_windows(audio)
    assert_tiles(windows, audio.shape[0])
    assert quiet <= windows[0].end < quiet + SR // 10


@pytest.mark.timeout(10)
def test_a_zero_minimum_still_advances_past_every_pause() -> None:
    # A cut found exactly at a window's start would be found again, forever.
    audio = np.ones(100 * SR, dtype=np.float32)
    speech = [Span(0, 20 * SR), Span(21 * SR, 100 * SR)]
    windows = plan_windows(audio, speech=speech, min_seconds=0.0)
    assert_tiles(windows, audio.shape[0])
    assert windows[0].end == int(20.5 * SR)


def test_window_settings_refuse_a_minimum_that_cannot_advance() -> None:
    with pytest.raises(ValidationError):
        WindowSettings(min_seconds=0.0)
    with pytest.raises(ValidationError):
        WindowSettings(min_seconds=20.0, max_seconds=15.0)


def test_windows_without_speech_are_dropped() -> None:
    audio = np.zeros(90 * SR, dtype=np.float32)
    speech = [Span(70 * SR, 80 * SR)]
    windows = plan_windows(audio, speech=speech)
    assert len(windows) == 1
    assert windows[0].start <= 70 * SR
    assert windows[0].end >= 80 * SR


@pytest.mark.parametrize("max_seconds", [30.0, 12.0])
def test_real_vad_cuts_only_in_silence(speech: Speech, max_seconds: float) -> None:
    from tests.inference.asr import media

    audio, _ = media.lecture(speech.sentences, 75.0)
    spans = speech_spans(audio, 160)
    assert len(spans) >= 10  # one stretch per sentence, roughly
    windows = plan_windows(audio, max_seconds=max_seconds, min_seconds=5.0, speech=spans)
    assert_tiles(windows, audio.shape[0], max_seconds)
    for window in windows[:-1]:
        around = audio[window.end - SR // 20 : window.end + SR // 20]
        assert float(np.abs(around).max()) < 1e-3  # inside a pause, not inside a word


def test_timestamp_tokens_become_segments() -> None:
    begin, eot = 1000, 999
    words = {1: "hello", 2: "world", 3: "again"}

    def decode(tokens: list[int]) -> str:
        return " ".join(words[t] for t in tokens)

    tokens = [begin + 0, 1, 2, begin + 100, begin + 100, 3, begin + 150, eot, 1]
    segments = split_timestamped(
        tokens, timestamp_begin=begin, eot=eot, decode=decode, duration=5.0
    )
    assert segments == (Segment(0.0, 2.0, "hello world"), Segment(2.0, 3.0, "again"))
    # Text the model never closed with a timestamp is kept, up to the end of the window.
    tail = split_timestamped(
        [begin + 50, 3], timestamp_begin=begin, eot=eot, decode=decode, duration=4.0
    )
    assert tail == (Segment(1.0, 4.0, "again"),)
    # Timestamps past the window are clamped to it.
    late = split_timestamped(
        [begin, 1, begin + 1400], timestamp_begin=begin, eot=eot, decode=decode, duration=4.0
    )
    assert late == (Segment(0.0, 4.0, "hello"),)


def test_stitch_offsets_and_keeps_order() -> None:
    spans = [Span(0, 20 * SR), Span(20 * SR, 45 * SR)]
    per_window = (
        (Segment(0.0, 8.0, "a"), Segment(8.0, 20.0, "b")),
        (Segment(0.0, 5.0, "c"), Segment(5.0, 26.0, "d")),
    )
    stitched = stitch(spans, list(per_window))
    assert [(s.start, s.end, s.text) for s in stitched] == [
        (0.0, 8.0, "a"),
        (8.0, 20.0, "b"),
        (20.0, 25.0, "c"),
        (25.0, 45.0, "d"),  # clamped to the end of its window
    ]
