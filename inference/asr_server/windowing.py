"""Cutting audio into the windows (at most 30 s) that Whisper decodes, losing no speech.

Two plans:

- **packed** (the default, with the VAD): the Silero VAD that faster-whisper ships finds
  the stretches of speech; consecutive stretches are packed, silences dropped, into windows
  filled up to 30 s. Each window remembers where its pieces came from (:class:`Window
  Plan`), so times decoded in it map back to the file. Every speech sample lies in exactly
  one window: no word is lost or decoded twice. Fewer, fuller windows are also faster: the
  encoder always pays for 30 s.
- **tiled** (``ASR_WINDOW__VAD=false``, or audio of at most one window): windows tile the
  audio with no gap and no overlap, cut at the quietest 20 ms of each window's tail.
"""

from __future__ import annotations

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

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WindowPlan:
    """One window: pieces of the file, concatenated in order."""

    pieces: tuple[Span, ...]

    @property
    def samples(self) -> int:
        return sum(p.length for p in self.pieces)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def start_seconds(self) -> float:
        return self.pieces[0].offset_seconds

    @property
    def end_seconds(self) -> float:
        return self.pieces[-1].end / SAMPLE_RATE

    def audio(self, audio: np.ndarray) -> np.ndarray:
        if len(self.pieces) == 1:
            return audio[self.pieces[0].start : self.pieces[0].end]
        return np.concatenate([audio[p.start : p.end] for p in self.pieces])

    def to_file_time(self, seconds: float, *, is_end: bool = False) -> float:
        """A time inside the window to a time in the file.

        A time that falls on a seam belongs to the piece it ends (``is_end``) or to the
        one it starts, so a segment never stretches over the silence that was cut out.
        """
        sample = max(0, round(seconds * SAMPLE_RATE))
        for index, piece in enumerate(self.pieces):
            last = index == len(self.pieces) - 1
            if sample < piece.length or (is_end and sample == piece.length) or last:
                return (piece.start + min(sample, piece.length)) / SAMPLE_RATE
            sample -= piece.length
        return self.end_seconds  # pragma: no cover - the loop always returns


def speech_spans(
    audio: np.ndarray, min_silence_ms: int, pad_ms: int = 100, max_seconds: float = 30.0
) -> list[Span]:
    """Where the Silero VAD hears speech, padded so that word edges stay inside.

    A stretch longer than ``max_seconds`` is split by the VAD at its last short pause.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_silence_duration_ms=min_silence_ms,
        speech_pad_ms=pad_ms,
        max_speech_duration_s=max_seconds,
    )
    spans = [Span(int(s["start"]), int(s["end"])) for s in get_speech_timestamps(audio, options)]
    return [s for s in spans if s.length > 0]


def pack_windows(speech: Sequence[Span], *, max_seconds: float = 30.0) -> list[WindowPlan]:
    """Consecutive speech stretches, packed into windows of at most ``max_seconds``."""
    max_len = int(max_seconds * SAMPLE_RATE)
    windows: list[WindowPlan] = []
    current: list[Span] = []
    filled = 0
    for span in _split_long(speech, max_len):
        if current and filled + span.length > max_len:
            windows.append(WindowPlan(tuple(current)))
            current, filled = [], 0
        current.append(span)
        filled += span.length
    if current:
        windows.append(WindowPlan(tuple(current)))
    return windows


def _split_long(speech: Sequence[Span], max_len: int) -> list[Span]:
    """The VAD keeps stretches under the limit; this guarantees it whatever it returns."""
    out: list[Span] = []
    for span in speech:
        start = span.start
        while span.end - start > max_len:
            out.append(Span(start, start + max_len))
            start += max_len
        out.append(Span(start, span.end))
    return out


def plan_windows(
    audio: np.ndarray, *, max_seconds: float = 30.0, min_seconds: float = 10.0
) -> list[Span]:
    """Windows that tile ``audio`` exactly, each cut at the quietest 20 ms of its tail."""
    total = int(audio.shape[0])
    max_len = int(max_seconds * SAMPLE_RATE)
    # At least one frame: every cut lies strictly after the window's start, so the loop
    # always advances (a cut at the start would repeat forever).
    min_len = max(_FRAME, min(int(min_seconds * SAMPLE_RATE), max_len - _FRAME))
    windows: list[Span] = []
    start = 0
    while total - start > max_len:
        cut = _quietest_point(audio, start + min_len, start + max_len)
        windows.append(Span(start, cut))
        start = cut
    windows.append(Span(start, total))
    return windows


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
