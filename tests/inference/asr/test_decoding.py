"""The per-window decode loop: temperature fallback and unfinished tails, with a scripted model.

The model is replaced by a list of answers, so each rule is shown on the exact case it
exists for; the real model exercises the same loop in test_piper_lecture.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from inference.asr_server.decoding import (
    DecodePolicy,
    compression_ratio,
    decode_window,
)
from inference.asr_server.engines.base import (
    DecodeOptions,
    Segment,
    Window,
    WindowTranscript,
    Word,
)

SR = 16_000
AUDIO = np.zeros(30 * SR, dtype=np.float32)
POLICY = DecodePolicy()


class Script:
    """Answers each model call with the next function of the script, and records the call."""

    def __init__(self, *answers: Callable[[Window], WindowTranscript]) -> None:
        self.answers = list(answers)
        self.calls: list[Window] = []

    async def __call__(self, window: Window) -> WindowTranscript:
        self.calls.append(window)
        return self.answers.pop(0)(window)


def said(*segments: Segment, logprob: float = -0.2) -> Callable[[Window], WindowTranscript]:
    return lambda w: WindowTranscript(segments, "en", avg_logprob=logprob)


def test_repetition_falls_back_to_the_next_temperature() -> None:
    loop = "the exam the exam the exam " * 12
    assert compression_ratio(loop) > 2.4
    script = Script(said(Segment(0, 30, loop)), said(Segment(0, 30, "The exam is on Monday.")))
    decoded = _run(script, DecodeOptions(timestamps=False))
    assert [s.text for s in decoded.segments] == ["The exam is on Monday."]
    assert [w.options.temperature for w in script.calls] == [0.0, 0.2]
    assert decoded.fallbacks == 1


def test_when_every_temperature_fails_the_most_probable_is_kept() -> None:
    answers = [said(Segment(0, 30, f"try {i}"), logprob=-3.0 + i * 0.1) for i in range(6)]
    answers[2] = said(Segment(0, 30, "best of the bad"), logprob=-1.5)
    script = Script(*answers)
    decoded = _run(script, DecodeOptions(timestamps=False))
    assert len(script.calls) == 6  # 0.0 then the five fallbacks
    assert [s.text for s in decoded.segments] == ["best of the bad"]


def test_silence_is_not_retried() -> None:
    script = Script(said(logprob=-5.0))
    decoded = _run(script, DecodeOptions())
    assert decoded.segments == ()
    assert len(script.calls) == 1


def test_a_segment_left_open_is_decoded_again_from_its_start() -> None:
    first = said(Segment(0.0, 10.0, "One two three."), Segment(22.0, 30.0, "Above", closed=False))
    rest = said(Segment(0.0, 8.0, "Above them are the consumers."))
    script = Script(first, rest)
    decoded = _run(script, DecodeOptions(timestamps=True))
    assert [(s.start, s.text) for s in decoded.segments] == [
        (0.0, "One two three."),
        (22.0, "Above them are the consumers."),
    ]
    tail = script.calls[1]
    assert tail.seconds == 8.0  # from the open segment's start to the window's end
    assert tail.options.prompt
    assert tail.options.prompt.endswith("One two three.")
    assert decoded.tails == 1


def test_a_decode_that_closes_early_is_resumed_there() -> None:
    first = said(Segment(0.0, 24.0, "Everything up to here."))
    rest = said(Segment(0.0, 5.0, "here. And the rest."))
    script = Script(first, rest)
    decoded = _run(script, DecodeOptions(timestamps=True))
    # The words it repeated from its prompt are dropped.
    assert [s.text for s in decoded.segments] == ["Everything up to here.", "And the rest."]
    assert script.calls[1].seconds == 6.0


def test_a_decode_that_reaches_the_end_is_not_resumed() -> None:
    script = Script(said(Segment(0.0, 29.5, "All of it.")))
    assert _run(script, DecodeOptions(timestamps=True)).tails == 0
    assert len(script.calls) == 1


def test_text_only_decodes_are_resumed_after_their_last_aligned_word() -> None:
    words = (Word(0.0, 1.0, " Gravity"), Word(1.0, 27.0, " pulls"))
    first = said(Segment(0.0, 30.0, "Gravity pulls", words, closed=False))
    rest = said(Segment(0.0, 3.0, "every object down.", (Word(0.2, 2.5, " every"),)))
    script = Script(first, rest)
    decoded = _run(script, DecodeOptions(timestamps=False, words=True))
    assert " ".join(s.text for s in decoded.segments) == "Gravity pulls every object down."
    assert script.calls[1].seconds == 3.0
    assert decoded.segments[1].words[0].start == 27.2  # in window time


def test_tails_stop_after_the_configured_passes() -> None:
    early = [said(Segment(0.0, 1.0, f"part {i}.")) for i in range(10)]
    script = Script(*early)
    decoded = _run(script, DecodeOptions(timestamps=True), DecodePolicy(max_tail_passes=2))
    assert len(script.calls) == 3
    assert decoded.tails == 2


def _run(script: Script, options: DecodeOptions, policy: DecodePolicy = POLICY):  # type: ignore[no-untyped-def]
    import asyncio

    return asyncio.run(decode_window(script, AUDIO, options, policy))


def test_a_prompt_keeps_its_text_and_drops_special_token_spellings() -> None:
    from inference.asr_server.engines.base import prompt_text

    assert prompt_text("<|ha|> Hello.<|endoftext|>  world") == "Hello. world"
    assert prompt_text("a < b | c > d, <|>|") == "a < b | c > d, <|>|"
    assert prompt_text(None) == ""
    assert prompt_text("<|en|>") == ""


def test_decode_options_hold_the_prompt_as_text() -> None:
    from inference.asr_server.engines.base import DecodeOptions

    assert DecodeOptions(prompt="<|ha|>").prompt is None
    assert DecodeOptions(prompt=" So <|en|> far ").prompt == "So far"
