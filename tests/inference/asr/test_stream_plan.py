"""Windows planned block by block (the service's memory does not grow with the file) against
one plan of the whole file, with the real Silero VAD and espeak-ng speech."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inference.asr_server.settings import WindowSettings
from inference.asr_server.stream_plan import PlannedWindow, StreamPlanner
from inference.asr_server.windowing import SAMPLE_RATE, Span, pack_windows, speech_spans
from tests.inference.asr.conftest import Speech

SR = SAMPLE_RATE


def planned(
    audio: np.ndarray, settings: WindowSettings, block_seconds: float
) -> tuple[list[PlannedWindow], int]:
    """The windows of ``audio`` fed in blocks, and the most samples the planner carried."""
    planner = StreamPlanner(settings)
    step = int(block_seconds * SR)
    windows: list[PlannedWindow] = []
    carried = 0
    for start in range(0, audio.shape[0], step):
        windows += planner.feed(audio[start : start + step])
        carried = max(carried, planner._carry.size)  # the bound under test
    return windows + planner.finish(), carried


def covered(spans: list[Span], pieces: list[Span]) -> float:
    """Share of the samples of ``spans`` that lie in some piece."""
    mask = np.zeros(max(s.end for s in spans + pieces), dtype=bool)
    for piece in pieces:
        mask[piece.start : piece.end] = True
    return sum(int(mask[s.start : s.end].sum()) for s in spans) / sum(s.length for s in spans)


@pytest.mark.parametrize("block_seconds", [30.0, 47.0, 120.0])
def test_blocks_find_the_speech_one_plan_of_the_file_finds(
    speech: Speech, block_seconds: float
) -> None:
    from tests.inference.asr import media

    audio, _ = media.lecture(speech.sentences, 240.0)
    settings = WindowSettings()
    windows, carried = planned(audio, settings, block_seconds)
    whole = speech_spans(audio, settings.vad_min_silence_ms, settings.vad_pad_ms, 30.0)
    pieces = [p for w in windows for p in w.plan.pieces]
    for a, b in itertools.pairwise(pieces):
        assert a.end <= b.start  # in order, and no sample in two windows (no doubled words)
    assert all(w.plan.seconds <= 30.0 for w in windows)
    assert covered(whole, pieces) > 0.99  # no speech lost on a block's seam
    assert abs(len(windows) - len(pack_windows(whole))) <= 1  # as full as one plan's
    for window in windows:  # each window carries exactly its pieces' samples
        expected = np.concatenate([audio[p.start : p.end] for p in window.plan.pieces])
        np.testing.assert_array_equal(window.audio, expected)
    # What is held between blocks: a stretch of speech of at most a window, the guard,
    # and the VAD's padding; never the file.
    assert carried <= 32 * SR


def test_tiles_are_those_of_one_plan_of_the_file() -> None:
    from inference.asr_server.windowing import plan_windows

    rng = np.random.default_rng(1)
    audio = rng.uniform(-0.5, 0.5, 200 * SR).astype(np.float32)
    for quiet in range(7, 200, 11):  # quiet points for the cuts to find
        audio[quiet * SR : quiet * SR + SR // 20] = 0.0
    settings = WindowSettings(vad=False)
    windows, _ = planned(audio, settings, 45.0)
    assert [w.plan.pieces[0] for w in windows] == plan_windows(audio)
    assert all(len(w.plan.pieces) == 1 for w in windows)


def test_silence_gives_no_window_and_holds_little() -> None:
    audio = np.zeros(300 * SR, dtype=np.float32)
    windows, carried = planned(audio, WindowSettings(), 60.0)
    assert windows == []
    assert carried <= 2 * SR
