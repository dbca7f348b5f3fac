"""Windows planned block by block, as the audio is decoded: memory does not grow with the file.

:class:`StreamPlanner` takes the decoded audio in blocks (a minute or so each) and gives
back each window as soon as nothing that comes later can change it, with its own samples.
The windows are the same kind as :mod:`windowing` plans for a whole file:

- **packed** (VAD): speech spans that end more than a guard's length before the end of
  what was fed so far are final; a span still touching the end is carried over and heard
  again with the next block, so a word on a block's seam is never cut. Final spans pack
  into windows of up to ``max_seconds``; a window is given out once the next span would
  not fit, and the last, partly filled one when the audio ends.
- **tiled** (no VAD): every window but the last of what was fed is given out, cut at a
  quiet point as :func:`windowing.plan_windows` cuts them; the last is carried over.

What is held at any time is the carried audio (under ``max_seconds`` plus the guard) and
the speech of one partly filled window (the window a whole-file plan would give is
the same: :func:`windowing.pack_windows` packs the final spans).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.asr_server.settings import WindowSettings
from inference.asr_server.windowing import (
    SAMPLE_RATE,
    Span,
    WindowPlan,
    pack_windows,
    plan_windows,
    speech_spans,
)

# Speech ending this close to the end of what was fed may go on in the next block.
_GUARD_SAMPLES = SAMPLE_RATE


@dataclass(frozen=True)
class PlannedWindow:
    plan: WindowPlan  # where its pieces lie in the file
    audio: np.ndarray  # the pieces' samples, concatenated


class StreamPlanner:
    def __init__(self, settings: WindowSettings) -> None:
        self._settings = settings
        self._max_len = int(settings.max_seconds * SAMPLE_RATE)
        self._carry = np.zeros(0, dtype=np.float32)
        self._carry_start = 0  # file sample of the carry's first sample
        self._spans: list[tuple[Span, np.ndarray]] = []  # final speech not yet in a window

    def feed(self, block: np.ndarray) -> list[PlannedWindow]:
        """Windows that ``block`` (the next samples of the file) completes."""
        buffer = np.concatenate([self._carry, block]) if self._carry.size else block
        if self._settings.vad:
            return self._feed_speech(buffer, final=False)
        return self._feed_tiles(buffer, final=False)

    def finish(self) -> list[PlannedWindow]:
        """The rest, once the file has ended."""
        buffer = self._carry
        self._carry = np.zeros(0, dtype=np.float32)
        if self._settings.vad:
            return self._feed_speech(buffer, final=True)
        return self._feed_tiles(buffer, final=True) if buffer.size else []

    def _feed_tiles(self, buffer: np.ndarray, *, final: bool) -> list[PlannedWindow]:
        window = self._settings
        spans = plan_windows(buffer, max_seconds=window.max_seconds, min_seconds=window.min_seconds)
        ready = spans if final else spans[:-1]
        out = [
            self._window([(self._to_file(span), buffer[span.start : span.end])]) for span in ready
        ]
        keep_from = ready[-1].end if ready else 0
        self._carry_start += keep_from
        self._carry = buffer[keep_from:] if not final else np.zeros(0, dtype=np.float32)
        return out

    def _feed_speech(self, buffer: np.ndarray, *, final: bool) -> list[PlannedWindow]:
        window = self._settings
        spans = (
            speech_spans(buffer, window.vad_min_silence_ms, window.vad_pad_ms, window.max_seconds)
            if buffer.size
            else []
        )
        limit = buffer.shape[0] if final else buffer.shape[0] - _GUARD_SAMPLES
        done = [span for span in spans if span.end <= limit]
        keep_from = spans[len(done)].start if len(done) < len(spans) else max(limit, 0)
        if done:
            keep_from = max(keep_from, done[-1].end)
        # Copies: a pending span must not keep its whole block alive.
        self._spans += [(self._to_file(s), buffer[s.start : s.end].copy()) for s in done]
        if final:
            self._carry = np.zeros(0, dtype=np.float32)
        else:
            self._carry_start += keep_from
            self._carry = buffer[keep_from:]
        plans = pack_windows([span for span, _ in self._spans], max_seconds=window.max_seconds)
        ready = plans if final else plans[:-1]  # the last may take more speech
        out = [self._window([(piece, self._samples(piece)) for piece in p.pieces]) for p in ready]
        if ready:
            last_end = ready[-1].pieces[-1].end
            self._spans = [(span, audio) for span, audio in self._spans if span.end > last_end]
            self._spans = [self._trim(span, audio, last_end) for span, audio in self._spans]
        return out

    def _samples(self, piece: Span) -> np.ndarray:
        for span, audio in self._spans:
            if span.start <= piece.start and piece.end <= span.end:
                return audio[piece.start - span.start : piece.end - span.start]
        raise AssertionError("a packed piece lies outside the speech it was packed from")

    @staticmethod
    def _trim(span: Span, audio: np.ndarray, start: int) -> tuple[Span, np.ndarray]:
        """The part of a span after ``start`` (a long span split across windows)."""
        if span.start >= start:
            return span, audio
        return Span(start, span.end), audio[start - span.start :]

    def _window(self, pieces: list[tuple[Span, np.ndarray]]) -> PlannedWindow:
        plan = WindowPlan(tuple(span for span, _ in pieces))
        audio = pieces[0][1] if len(pieces) == 1 else np.concatenate([a for _, a in pieces])
        # A copy: the window must not keep the whole block it was cut from alive.
        return PlannedWindow(plan, np.array(audio, dtype=np.float32, copy=True))

    def _to_file(self, span: Span) -> Span:
        return Span(self._carry_start + span.start, self._carry_start + span.end)
