"""Cutting a transcript into the ~2,500-character chunks the lecture summary reads.

:func:`split_chunks` cuts a whole text. :class:`StreamingChunker` makes the same cuts
while the text still arrives (the ASR stream), so that each full chunk can go to the LLM
at once: a cut depends only on the ``size`` characters after the previous cut, so it is
final as soon as more than ``size`` characters (trailing whitespace aside) follow that
cut. The last chunk is only known once the text has ended.
"""

from __future__ import annotations

import math

_BREAKS = "。！？；\n.!?;"


def _cut(text: str, start: int, size: int) -> int:
    """Where the chunk that starts at ``start`` ends, given more than ``size`` characters
    follow it: after the last sentence end in its final fifth, else at ``size``."""
    end = start + size
    low = start + int(size * 0.8)
    cut = max(text.rfind(mark, low, end) for mark in _BREAKS)
    # rfind over [low, end) finds a mark that ends no later than end, as a slice would.
    return cut + 1 if cut >= 0 else end


def split_chunks(text: str, size: int) -> list[str]:
    """Pieces of about ``size`` characters, cut after a sentence end when one is near."""
    text = text.strip()
    chunks: list[str] = []
    start = 0
    while len(text) - start > size:
        end = _cut(text, start, size)
        chunks.append(text[start:end].strip())
        start = end
    if text[start:].strip():
        chunks.append(text[start:].strip())
    return chunks


class StreamingChunker:
    """The chunks of :func:`split_chunks`, emitted as soon as each is final.

    ``feed`` the text piece by piece and collect what it returns, then call ``finish``
    with nothing more to come: the concatenation of all returned chunks equals
    ``split_chunks`` of the whole text fed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._text = ""  # the text so far, leading whitespace dropped (as strip() would)
        self._start = 0  # where the next chunk starts in _text

    @property
    def text(self) -> str:
        return self._text

    def feed(self, piece: str) -> list[str]:
        if not self._text:
            piece = piece.lstrip()
        self._text += piece
        chunks = []
        # Trailing whitespace may be the end of the text, which strip() drops: only
        # characters up to the last non-space one count as surely "following".
        while len(self._text[self._start :].rstrip()) > self.size:
            end = _cut(self._text, self._start, self.size)
            chunks.append(self._text[self._start : end].strip())
            self._start = end
        return chunks

    def finish(self) -> list[str]:
        """The last chunk (none when only whitespace remains)."""
        rest = self._text[self._start :].strip()
        self._start = len(self._text)
        return [rest] if rest else []


def estimate_total(index: int, chars: int, done_s: float, total_s: float, size: int) -> int:
    """How many chunks the whole transcript will make, guessed while it streams.

    The transcript so far (``chars`` characters for ``done_s`` of ``total_s`` seconds of
    audio) gives the characters per second; the rest of the audio is assumed to speak
    at that rate, and chunks average 90 % of ``size`` (a cut falls in their last fifth).
    A chunk cut while streaming is never the last, so the guess is at least
    ``index + 1``: its prompt says "recording continues", whatever the guess.
    """
    if done_s <= 0 or total_s <= done_s:
        return index + 1
    expected_chars = chars * total_s / done_s
    return max(index + 1, math.ceil(expected_chars / (0.9 * size)))
