"""How one window is decoded until nothing in it is lost: fallback and unfinished tails.

Each window runs its own small loop, and every model call goes through the service's
shared batcher, so the retries of many windows (of one request or of several) are
batched together like first tries:

- **Temperature fallback** (openai-whisper's rule): a decode whose text compresses too
  well (gzip ratio above 2.4: it repeats itself) or whose average log-probability is
  below -1 is decoded again at the next temperature of the ladder; if every try fails,
  the most probable one is kept.
- **Unfinished tail** (timestamped decodes only): Whisper may stop seconds before the end
  of the window, as if a next window would carry on: after closing a segment early, or
  inside a segment it opened but never closed (openai-whisper seeks back to that
  segment's start; faster-whisper's batched pipeline never re-decodes). Packed windows
  hold speech up to their end, so when the decode stops more than ``tail_seconds`` early,
  the rest of the window is decoded again from there, with the text so far as the
  prompt, and appended (an unclosed segment is dropped and decoded again whole).
  A text-only decode has no timestamps to tell; it can still stop early (measured on a
  Piper lecture: 2 windows of 20 lost their last words), so the engine aligns its words
  (cross-attention, as for word timestamps) and the last word's end tells the same.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import numpy as np

from inference.asr_server.engines.base import (
    SAMPLE_RATE,
    DecodeOptions,
    Segment,
    Window,
    WindowTranscript,
    Word,
)

Submit = Callable[[Window], Awaitable[WindowTranscript]]
# The prompt carried into a tail decode: Whisper reads at most 223 prompt tokens.
_PROMPT_CHARS = 600
# A tail shorter than this holds no word worth a decode.
_MIN_TAIL_SECONDS = 0.5


@dataclass(frozen=True)
class DecodePolicy:
    temperatures: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = 2.4
    logprob_threshold: float = -1.0
    tail_seconds: float = 1.0
    max_tail_passes: int = 2
    align_text: bool = True  # align text-only decodes to find where they stopped


@dataclass(frozen=True)
class DecodedWindow:
    segments: tuple[Segment, ...]  # window time
    language: str
    calls: int  # model calls this window took (1 when nothing was retried)
    fallbacks: int
    tails: int


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def failed(transcript: WindowTranscript, policy: DecodePolicy) -> bool:
    text = " ".join(s.text for s in transcript.segments)
    if not text.strip():
        return False  # silence (or the engine's no-speech rule): nothing to retry
    return (
        compression_ratio(text) > policy.compression_ratio_threshold
        or transcript.avg_logprob < policy.logprob_threshold
    )


async def decode_with_fallback(
    submit: Submit, audio: np.ndarray, options: DecodeOptions, policy: DecodePolicy
) -> tuple[WindowTranscript, int]:
    """The first try that passes, else the most probable; and how many calls it took."""
    ladder = [options.temperature, *(t for t in policy.temperatures if t > options.temperature)]
    best: WindowTranscript | None = None
    for calls, temperature in enumerate(ladder, start=1):
        transcript = await submit(Window(audio, replace(options, temperature=temperature)))
        if not failed(transcript, policy):
            return transcript, calls
        if best is None or transcript.avg_logprob > best.avg_logprob:
            best = transcript
    if best is None:  # pragma: no cover - the ladder holds the request temperature
        raise RuntimeError("empty temperature ladder")
    return best, len(ladder)


async def decode_window(
    submit: Submit, audio: np.ndarray, options: DecodeOptions, policy: DecodePolicy
) -> DecodedWindow:
    """All the text of one window: fallback on every pass, tails while timestamps stop early."""
    duration = audio.shape[0] / SAMPLE_RATE
    segments: list[Segment] = []
    offset = 0.0
    calls = fallbacks = tails = 0
    language = options.language or "en"
    current = options
    for tail_pass in range(policy.max_tail_passes + 1):
        tails += 1 if tail_pass else 0
        start = round(offset * SAMPLE_RATE)
        transcript, used = await decode_with_fallback(submit, audio[start:], current, policy)
        calls += used
        fallbacks += used - 1
        if tail_pass == 0:
            language = transcript.language
        new = _drop_repeated_start(segments, [_shift(s, offset) for s in transcript.segments])
        last_pass = tail_pass == policy.max_tail_passes
        stopped = _stopped_at(new, options, offset, last_pass)
        reopened = options.timestamps and stopped is not None and not new[-1].closed
        if reopened and stopped == new[-1].start:
            new = new[:-1]  # stopped inside a segment: decoded again, whole, from its start
        segments += new
        if stopped is None or duration - stopped <= max(policy.tail_seconds, _MIN_TAIL_SECONDS):
            break
        # Decode the rest of the window, prompted with what it said so far.
        offset = stopped
        said = " ".join(s.text for s in segments)[-_PROMPT_CHARS:]
        prompt = f"{options.prompt} {said}" if options.prompt else said
        current = replace(options, prompt=prompt.strip(), language=options.language or language)
    return DecodedWindow(tuple(segments), language, calls, fallbacks, tails)


def _stopped_at(
    new: list[Segment], options: DecodeOptions, offset: float, last_pass: bool
) -> float | None:
    """Where the model stopped hearing, in window time; None when that cannot be told."""
    if not new:
        return None
    if options.timestamps:
        last = new[-1]
        if not last.closed and last.start > offset and not last_pass:
            return last.start
        return last.end
    words = [w for s in new for w in s.words]
    return words[-1].end if words else None  # text-only: the last aligned word


def _shift(segment: Segment, offset: float) -> Segment:
    if not offset:
        return segment
    words = tuple(Word(w.start + offset, w.end + offset, w.word) for w in segment.words)
    return Segment(
        segment.start + offset, segment.end + offset, segment.text, words, segment.closed
    )


def _drop_repeated_start(before: list[Segment], new: list[Segment]) -> list[Segment]:
    """A tail decode sometimes repeats the last words it was prompted with; drop them."""
    if not before or not new:
        return new
    said = " ".join(s.text for s in before).split()
    first = new[0].text.split()
    for size in range(min(len(said), len(first), 8), 0, -1):
        if size == 1 and len(_norm(first[:1])[0]) < 4:
            break  # a short word ("the", "a") may well be said twice
        if _norm(said[-size:]) == _norm(first[:size]):
            rest = " ".join(first[size:])
            head = [Segment(new[0].start, new[0].end, rest, (), new[0].closed)] if rest else []
            return head + new[1:]
    return new


def _norm(words: list[str]) -> list[str]:
    return ["".join(c for c in w.lower() if c.isalnum()) for w in words]
