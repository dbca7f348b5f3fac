"""Sample media: what the demo makes must pass the services' own intake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from demo.media import BUNDLED_CLIP, ESSAY, essay_text, make_essay_image, make_speech
from inference.audio import SAMPLE_RATE, decode_audio
from inference.images import decode_image


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_speech_is_a_short_decodable_mp3(tmp_path: Path) -> None:
    target = tmp_path / "lecture.mp3"
    assert make_speech(target, "The exam is on Friday.") == "espeak-ng"
    samples = decode_audio(target.read_bytes())
    assert 0.8 < samples.size / SAMPLE_RATE < 5
    assert float(abs(samples).max()) > 0.05  # speech, not silence


def test_bundled_clip_is_small_and_decodable() -> None:
    data = BUNDLED_CLIP.read_bytes()
    assert len(data) < 100 * 1024
    seconds = decode_audio(data).size / SAMPLE_RATE
    assert 5 < seconds < 30


def test_bundled_clip_is_used_without_espeak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on this PATH
    target = tmp_path / "lecture.mp3"
    assert make_speech(target) == "bundled clip"
    assert target.read_bytes() == BUNDLED_CLIP.read_bytes()


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_essay_image_decodes_upright(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"essay{suffix}"
    make_essay_image(target)
    image = decode_image(target.read_bytes())
    assert image.mode == "RGB"
    assert image.width > image.height  # a landscape page of a few lines
    # Dark text on a white page.
    low, high = image.convert("L").getextrema()
    assert low < 60
    assert high > 240


def test_essay_text_keeps_the_paragraphs() -> None:
    paragraphs = essay_text().split("\n\n")
    assert len(paragraphs) == sum(line.startswith("    ") for line in ESSAY)
    assert paragraphs[0].startswith("My favorite season is autumn.")


def test_the_handwritten_essay_is_in_a_held_out_hand(tmp_path: Path) -> None:
    from demo.media import HANDWRITING_FONT
    from inference.ocr_server.training.fonts import VALIDATION, family

    assert HANDWRITING_FONT in family(VALIDATION[0]).paths()
    make_essay_image(tmp_path / "printed.png")
    make_essay_image(tmp_path / "handwritten.png", handwritten=True)
    printed = decode_image((tmp_path / "printed.png").read_bytes())
    written = decode_image((tmp_path / "handwritten.png").read_bytes())
    assert printed.size == written.size
    assert printed.tobytes() != written.tobytes()
