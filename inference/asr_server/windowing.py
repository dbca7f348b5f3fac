"""Cutting long audio into windows of at most 30 s, at silences, without gaps or overlaps.

The seed cut blindly every 25 s, which splits words in two. Here the windows tile the
audio exactly (each sample belongs to exactly one window, so no word is lost or decoded
twice) and every cut is placed in a pause: the middle of a silence found by the Silero
VAD that faster-whisper ships, or, when no pause fits, the quietest 20 ms of the window's
tail. Windows in which the VAD hears no speech at all are dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
_FRAME = SAMPLE_RATE // 50  # 20 ms


@dataclass(frozen=True)
class Span:
    start: int  # first sample
    end: int  # one past the last sample

    @property
    def offset_seconds(self) -> float:
        return self.start / SAMPLE_RATE


def speech_spans(audio: np.ndarray, min_silence_ms: int) -> list[Span]:
    """Where the Silero VAD hears speech (padded a little so word edges stay inside)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=120)
    return [Span(int(s["start"]), int(s["end"])) for s in get_speech_timestamps(audio, options)]


def plan_windows(
    audio: np.ndarray,
    *,
    max_seconds: float = 30.0,
    min_seconds: float = 10.0,
    speech: Sequence[Span] | None = None,
) -> list[Span]:
    """Windows that tile ``audio``; ``speech`` (VAD output) guides the cuts when given."""
    total = int(audio.shape[0])
    max_len = int(max_seconds * SAMPLE_RATE)
    # At least one frame: every cut lies strictly after the window's start, so the loop
    # always advances (a cut at the start would repeat forever).
    min_len = max(_FRAME, min(int(min_seconds * SAMPLE_RATE), max_len - _FRAME))
    cuts = _pause_centres(speech or [])
    windows: list[Span] = []
    start = 0
    while total - start > max_len:
        low, high = start + min_len, start + max_len
        fitting = [c for c in cuts if low <= c <= high]
        cut = fitting[-1] if fitting else _quietest_point(audio, low, high)
        windows.append(Span(start, cut))
        start = cut
    windows.append(Span(start, total))
    if speech:
        windows = [w for w in windows if any(_overlaps(w, s) for s in speech)]
    return windows


def _pause_centres(speech: Sequence[Span]) -> list[int]:
    """The middle of every silence between two stretches of speech."""
    return [(a.end + b.start) // 2 for a, b in itertools.pairwise(speech)]


def _quietest_point(audio: np.ndarray, low: int, high: int) -> int:
    """Centre of the 20 ms frame with the least energy in ``[low, high)``."""
    count = max((high - low) // _FRAME, 1)
    frames = audio[low : low + count * _FRAME].astype(np.float64)
    if frames.size < count * _FRAME:
        return high
    energy = np.square(frames.reshape(count, _FRAME)).mean(axis=1)
    # Ties (digital silence) go to the latest frame, to keep windows long.
    best = count - 1 - int(np.argmin(energy[::-1]))
    return low + best * _FRAME + _FRAME // 2


def _overlaps(window: Span, speech: Span) -> bool:
    return speech.start < window.end and window.start < speech.end
