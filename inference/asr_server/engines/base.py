"""What every Whisper engine is: a batch of <=30 s windows in, one transcript per window out.

Engines import nothing from FastAPI. They run on the batcher's executor thread, so they
may block; they never run two batches at once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

# Text that spells a special token: "<|ha|>", "<|endoftext|>", ...
_SPECIAL_TOKEN_TEXT = re.compile(r"<\|[^|<>]*\|>")


def prompt_text(prompt: str | None) -> str:
    """A prompt as the model may read it: text only. A user, or the window before (a
    babbling model's text is carried into the next window's prompt), can write a special
    token's spelling; openai-whisper and transformers refuse it (the request would fail)
    and faster-whisper would read it as that token, so such spans are dropped."""
    return " ".join(_SPECIAL_TOKEN_TEXT.sub(" ", prompt or "").split())


SAMPLE_RATE = 16_000
# Whisper timestamp tokens are 20 ms apart.
TIME_PRECISION = 0.02


Task = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class DecodeOptions:
    """Per-request decoding choices; windows that share them are decoded in one call.

    ``timestamps``: decode segment timestamps (verbose_json, srt, vtt); without them the
    model writes text only, which is faster and never stops at a timestamp before the end
    of the window. ``words``: word start and end times too (cross-attention alignment).
    """

    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    timestamps: bool = True
    words: bool = False
    task: Task = "transcribe"

    def __post_init__(self) -> None:
        # Every source of a prompt (a request, a window's text carried into a tail
        # decode) passes here, and every engine reads it: cleaned once.
        object.__setattr__(self, "prompt", prompt_text(self.prompt) or None)


@dataclass(frozen=True, eq=False)
class Window:
    audio: np.ndarray  # float32 mono at 16 kHz, at most 30 s
    options: DecodeOptions

    @property
    def seconds(self) -> float:
        return float(self.audio.shape[0]) / SAMPLE_RATE


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str  # with its leading space, as Whisper writes it


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the window (or of the file, once stitched)
    end: float
    text: str
    words: tuple[Word, ...] = ()
    # False for text the model never closed with a timestamp: it stopped inside a segment.
    closed: bool = True


@dataclass(frozen=True)
class WindowTranscript:
    """What an engine decoded in one window, with the scores the fallback rules read.

    ``avg_logprob`` and ``no_speech_prob`` default to values that never trigger a
    fallback, for engines that do not report them.
    """

    segments: tuple[Segment, ...]
    language: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    temperature: float = 0.0


class AsrEngine(Protocol):
    """The seam between the service and a model backend."""

    name: str
    multilingual: bool
    # Batches the engine can run at once, each from its own thread (1: one at a time).
    lanes: int

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
    that ends at the end of the window, marked ``closed=False``: the model stopped inside
    it, and the caller may decode the window again from its start.
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
        opened = start if start is not None else last_time
        segments.append(Segment(opened, duration, tail, closed=False))
    return tuple(s for s in segments if s.text)


def whole_window(text: str, duration: float) -> tuple[Segment, ...]:
    """For engines decoding without timestamps: one segment spanning the window."""
    text = text.strip()
    return (Segment(0.0, duration, text),) if text else ()


def attach_words(segments: tuple[Segment, ...], words: Sequence[Word]) -> tuple[Segment, ...]:
    """Give each segment the aligned words whose middle falls in it (else the one before)."""
    if not segments:
        return segments
    buckets: list[list[Word]] = [[] for _ in segments]
    index = 0
    for word in words:
        middle = (word.start + word.end) / 2
        while index + 1 < len(segments) and middle >= segments[index + 1].start:
            index += 1
        buckets[index].append(word)
    return tuple(
        Segment(s.start, s.end, s.text, tuple(b), s.closed)
        for s, b in zip(segments, buckets, strict=True)
    )
