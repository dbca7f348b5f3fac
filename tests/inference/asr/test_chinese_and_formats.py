"""OpenCC conversion and the OpenAI response formats."""

from __future__ import annotations

import pytest

from inference.asr_server.chinese import ChineseConverter
from inference.asr_server.engines.base import Segment
from inference.asr_server.protocol import join_text, to_srt, to_vtt, verbose


def test_simplified_becomes_traditional_taiwan() -> None:
    converter = ChineseConverter("s2twp")
    assert converter.convert("我们学习软件和网络") == "我們學習軟體和網路"
    assert converter.applies_to("zh")
    assert not converter.applies_to("en")


def test_other_conversions_are_configurable() -> None:
    assert ChineseConverter("s2t").convert("软件") == "軟件"  # characters only, no vocabulary


def test_unknown_conversion_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown OpenCC"):
        ChineseConverter("s2nowhere")


SEGMENTS = [Segment(0.0, 1.5, "Hello there."), Segment(1.5, 3723.25, "Goodbye.")]


def test_srt() -> None:
    assert to_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n00:00:01,500 --> 01:02:03,250\nGoodbye.\n"
    )


def test_vtt() -> None:
    assert to_vtt(SEGMENTS).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")


def test_verbose_json_and_text() -> None:
    body = verbose(SEGMENTS, "en", 3724.0, 0.0)
    assert body.text == join_text(SEGMENTS) == "Hello there. Goodbye."
    assert [s.id for s in body.segments] == [0, 1]
    assert body.segments[1].end == 3723.25
