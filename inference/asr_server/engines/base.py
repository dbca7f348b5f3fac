"""What every Whisper engine is: a batch of <=30 s windows in, one transcript per window out.

Engines import nothing from FastAPI. They run on the batcher's executor thread, so they
may block; they never run two batches at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000
# Whisper timestamp tokens are 20 ms apart.
TIME_PRECISION = 0.02


@dataclass(frozen=True)
class DecodeOptions:
    """Per-request decoding choices; windows that share them are decoded in one call."""

    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0


@dataclass(frozen=True, eq=False)
class Window:
    audio: np.ndarray  # float32 mono at 16 kHz, at most 30 s
    options: DecodeOptions

    @property
    def seconds(self) -> float:
        return float(self.audio.shape[0]) / SAMPLE_RATE


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the window (or of the file, once stitched)
    end: float
    text: str


@dataclass(frozen=True)
class WindowTranscript:
    segments: tuple[Segment, ...]
    language: str


class AsrEngine(Protocol):
    """The seam between the service and a model backend."""

    name: str
    multilingual: bool

    def transcribe_windows(self, windows: Sequence[Window]) -> list[WindowTranscript]:
        """One transcript per window, in order. Blocking; called with a whole batch."""
        ...

    def close(self) -> None: ...


def group_by_options(windows: Sequence[Window]) -> dict[DecodeOptions, list[int]]:
    """Indices of the windows that can share one model call, keyed by their options."""
    groups: dict[DecodeOptions, list[int]] = defaultdict(list)
    for index, window in enumerate(windows):
        groups[window.options].append(index)
    return dict(groups)


def transcribe_grouped(
    windows: Sequence[Window],
    decode_group: Callable[[Sequence[Window], DecodeOptions], list[WindowTranscript]],
) -> list[WindowTranscript]:
    """Run ``decode_group`` once per set of equal options and put results back in order."""
    results: list[WindowTranscript | None] = [None] * len(windows)
    for options, indices in group_by_options(windows).items():
        decoded = decode_group([windows[i] for i in indices], options)
        for index, transcript in zip(indices, decoded, strict=True):
            results[index] = transcript
    return [r for r in results if r is not None]


def split_timestamped(
    tokens: Sequence[int],
    *,
    timestamp_begin: int,
    eot: int,
    decode: Callable[[list[int]], str],
    duration: float,
) -> tuple[Segment, ...]:
    """Segments from a token sequence with Whisper timestamp tokens, clamped to the window.

    Text after the last timestamp pair (or text with no timestamps at all) becomes a segment
    that ends at the end of the window, so no decoded word is dropped.
    """
    segments: list[Segment] = []
    text_tokens: list[int] = []
    start: float | None = None
    last_time = 0.0
    for token in tokens:
        if token == eot:
            break
        if token < timestamp_begin:
            text_tokens.append(token)
            continue
        moment = min(max((token - timestamp_begin) * TIME_PRECISION, last_time), duration)
        if text_tokens:  # a closing timestamp
            opened = start if start is not None else last_time
            segments.append(Segment(opened, moment, decode(text_tokens).strip()))
            text_tokens = []
            start = None
        else:  # an opening timestamp (or the second of a <|t|><|t|> pair)
            start = moment
        last_time = moment
    if text_tokens:
        tail = decode(text_tokens).strip()
        segments.append(Segment(start if start is not None else last_time, duration, tail))
    return tuple(s for s in segments if s.text)


def whole_window(text: str, duration: float) -> tuple[Segment, ...]:
    """For engines decoding without timestamps: one segment spanning the window."""
    text = text.strip()
    return (Segment(0.0, duration, text),) if text else ()
