"""The streaming chunker cuts exactly where split_chunks cuts, however the text arrives."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.chunking import StreamingChunker, estimate_total, split_chunks

SENTENCES = [
    "今天介紹傅立葉轉換。",
    "它把訊號拆成不同頻率的正弦波！",
    " The final exam covers chapters one to five.",
    " Homework is due on Friday;",
    "\n",
    "   ",
    " a long run of words without any sentence end at all and more words",
]


def streamed(pieces: list[str], size: int) -> list[str]:
    chunker = StreamingChunker(size)
    out: list[str] = []
    for piece in pieces:
        out += chunker.feed(piece)
    return out + chunker.finish()


def cut_randomly(text: str, rng: random.Random) -> list[str]:
    bounds = sorted(rng.sample(range(len(text) + 1), min(len(text), rng.randint(0, 40))))
    edges = [0, *bounds, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("seed", range(200))
def test_streamed_chunks_are_split_chunks_of_the_whole_text(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([200, 250, 333, 2500])
    text = "".join(rng.choice(SENTENCES) for _ in range(rng.randint(0, 400)))
    if rng.random() < 0.3:
        text = "  \n " + text + " \n  "  # whitespace at both ends, which strip() drops
    pieces = cut_randomly(text, rng)
    assert streamed(pieces, size) == split_chunks(text, size)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="ab 。.\n!", max_size=60), max_size=30),
    st.integers(min_value=5, max_value=40),
)
def test_any_pieces_any_size(pieces: list[str], size: int) -> None:
    assert streamed(pieces, size) == split_chunks("".join(pieces), size)


def test_a_chunk_is_emitted_as_soon_as_it_is_final() -> None:
    chunker = StreamingChunker(10)
    assert chunker.feed("0123456789") == []  # exactly one chunk's worth: may be the last
    assert chunker.feed("   ") == []  # trailing spaces may be the end of the text
    assert chunker.feed("x") == ["0123456789"]
    assert chunker.finish() == ["x"]


def test_deltas_of_the_asr_stream_shape() -> None:
    # As the service sends them: first delta bare, then " "-prefixed, empty ones between.
    words = [f"word{i}." if i % 7 == 6 else f"word{i}" for i in range(3000)]
    windows = [" ".join(words[i : i + 37]) for i in range(0, len(words), 37)]
    deltas = [windows[0]] + [x for w in windows[1:] for x in ("", " " + w)]
    whole = "".join(deltas)
    assert streamed(deltas, 2500) == split_chunks(whole, 2500)
    assert len(split_chunks(whole, 2500)) > 5


def test_total_estimate_follows_the_speech_rate_and_never_ends_early() -> None:
    # 5,000 characters in the first 10 of 60 minutes: ~30,000 in all, ~14 chunks of 2,250.
    assert estimate_total(2, 5000, 600.0, 3600.0, 2500) == 14
    # Never below the next index: a chunk cut while streaming is never the last.
    assert estimate_total(5, 12000, 3500.0, 3600.0, 2500) == 6
    # No duration known (an older service), or the audio done: the next index.
    assert estimate_total(3, 7000, 0.0, 0.0, 2500) == 4
    assert estimate_total(3, 7000, 3600.0, 3600.0, 2500) == 4
