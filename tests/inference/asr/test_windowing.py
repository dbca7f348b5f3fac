"""Windowing, timestamp parsing and stitching: pure functions, plus the real Silero VAD."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydantic import ValidationError

from inference.asr_server.engines.base import Segment, Word, attach_words, split_timestamped
from inference.asr_server.serving import stitch
from inference.asr_server.settings import WindowSettings
from inference.asr_server.windowing import (
    SAMPLE_RATE,
    Span,
    WindowPlan,
    pack_windows,
    plan_windows,
    speech_spans,
)
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


def test_without_a_pause_the_quietest_point_is_cut() -> None:
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, 65 * SR).astype(np.float32)
    quiet = 23 * SR
    audio[quiet : quiet + SR // 10] = 0.0
    windows = plan_windows(audio)
    assert_tiles(windows, audio.shape[0])
    assert quiet <= windows[0].end < quiet + SR // 10


@pytest.mark.timeout(10)
def test_a_zero_minimum_still_advances() -> None:
    # A cut found exactly at a window's start would be found again, forever.
    audio = np.zeros(100 * SR, dtype=np.float32)
    assert_tiles(plan_windows(audio, min_seconds=0.0), audio.shape[0])


def test_window_settings_refuse_a_minimum_that_cannot_advance() -> None:
    with pytest.raises(ValidationError):
        WindowSettings(min_seconds=0.0)
    with pytest.raises(ValidationError):
        WindowSettings(min_seconds=20.0, max_seconds=15.0)


def test_speech_is_packed_into_full_windows_in_order() -> None:
    speech = [Span(i * 4 * SR, i * 4 * SR + 3 * SR) for i in range(25)]  # 3 s every 4 s
    windows = pack_windows(speech, max_seconds=30.0)
    assert [p for w in windows for p in w.pieces] == speech  # each once, in order
    assert [len(w.pieces) for w in windows] == [10, 10, 5]
    assert all(w.seconds <= 30.0 for w in windows)


def test_a_stretch_longer_than_a_window_is_split() -> None:
    windows = pack_windows([Span(0, 70 * SR)], max_seconds=30.0)
    assert [w.pieces for w in windows] == [
        (Span(0, 30 * SR),),
        (Span(30 * SR, 60 * SR),),
        (Span(60 * SR, 70 * SR),),
    ]


def test_no_speech_means_no_window() -> None:
    assert pack_windows([]) == []


def test_window_time_maps_back_to_the_file() -> None:
    plan = WindowPlan((Span(10 * SR, 12 * SR), Span(20 * SR, 25 * SR)))
    assert plan.seconds == 7.0
    audio = np.arange(30 * SR, dtype=np.float32)
    assert plan.audio(audio)[2 * SR] == 20 * SR  # the second piece follows the first
    assert plan.to_file_time(1.0) == 11.0
    assert plan.to_file_time(3.0) == 21.0
    # On the seam a start belongs to the next piece and an end to the one it closes.
    assert plan.to_file_time(2.0) == 20.0
    assert plan.to_file_time(2.0, is_end=True) == 12.0
    assert plan.to_file_time(9.0) == 25.0  # past the end: clamped


@pytest.mark.parametrize("max_seconds", [30.0, 12.0])
def test_real_vad_packs_whole_sentences(speech: Speech, max_seconds: float) -> None:
    from tests.inference.asr import media

    audio, count = media.lecture(speech.sentences, 75.0)
    spans = speech_spans(audio, 160, 100, max_seconds)
    assert len(spans) >= count // 2  # about one stretch per sentence
    windows = pack_windows(spans, max_seconds=max_seconds)
    assert all(w.seconds <= max_seconds for w in windows)
    assert [p for w in windows for p in w.pieces] == spans
    loud = float(np.abs(audio).max())
    for piece in spans:  # every piece starts and ends outside words, not inside one
        for edge in (piece.start, piece.end):
            around = audio[max(edge - SR // 200, 0) : edge + SR // 200]
            assert float(np.abs(around).max()) < 0.2 * loud


def test_words_go_to_the_segment_they_are_spoken_in() -> None:
    segments = (Segment(0.0, 2.0, "hello world"), Segment(2.0, 4.0, "again"))
    words = [Word(0.1, 0.5, " hello"), Word(0.6, 1.9, " world"), Word(2.2, 3.0, " again")]
    attached = attach_words(segments, words)
    assert [len(s.words) for s in attached] == [2, 1]
    assert attached[1].words[0].word == " again"


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
    assert tail == (Segment(1.0, 4.0, "again", closed=False),)
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
