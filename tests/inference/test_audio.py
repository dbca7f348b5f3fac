"""The shared audio intake: real encodings in, 16 kHz mono out; each bad file its own error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.audio import SAMPLE_RATE, AudioLimits, decode_audio
from inference.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from tests.inference.asr import media


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes | np.ndarray]:
    folder: Path = tmp_path_factory.mktemp("audio")
    wav = media.speak(media.SENTENCES[1], folder / "espeak.wav")  # 22.05 kHz from espeak-ng
    samples = media.read_wav(wav)
    return {
        "samples": samples,
        "wav": wav.read_bytes(),
        "mp3": media.encode(samples, folder / "s.mp3").read_bytes(),
        "m4a": media.encode(samples, folder / "s.m4a").read_bytes(),
    }


@pytest.mark.parametrize("kind", ["wav", "mp3", "m4a"])
def test_speech_decodes_to_16k_mono_of_the_right_length(
    spoken: dict[str, bytes | np.ndarray], kind: str
) -> None:
    reference = spoken["samples"]
    assert isinstance(reference, np.ndarray)
    data = spoken[kind]
    assert isinstance(data, bytes)
    audio = decode_audio(data)
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    # Duration within 0.1 s: a wrong rate (22.05 vs 16 kHz) would be off by 38 %.
    assert abs(audio.shape[0] - reference.shape[0]) / SAMPLE_RATE < 0.1
    assert 0.01 < float(np.abs(audio).max()) <= 1.0
    assert SAMPLE_RATE == 16_000


def test_truncated_m4a_is_corrupt(spoken: dict[str, bytes | np.ndarray]) -> None:
    data = spoken["m4a"]
    assert isinstance(data, bytes)
    with pytest.raises(CorruptMedia):
        decode_audio(data[: len(data) // 3])


def test_truncated_wav_is_corrupt(spoken: dict[str, bytes | np.ndarray]) -> None:
    data = spoken["wav"]
    assert isinstance(data, bytes)
    with pytest.raises(CorruptMedia, match="truncated"):
        decode_audio(data[: len(data) // 4])


def test_garbage_after_an_mp3_header_is_corrupt() -> None:
    with pytest.raises(CorruptMedia):
        decode_audio(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4)


def test_text_renamed_mp3_is_unsupported() -> None:
    with pytest.raises(UnsupportedMedia):
        decode_audio(b"Lecture notes: chapter 3, photosynthesis.\n" * 50)


def test_empty_file_is_corrupt() -> None:
    with pytest.raises(CorruptMedia, match="empty"):
        decode_audio(b"")


def test_over_size_file_is_too_large(spoken: dict[str, bytes | np.ndarray]) -> None:
    data = spoken["mp3"]
    assert isinstance(data, bytes)
    with pytest.raises(MediaTooLarge, match="bytes"):
        decode_audio(data, AudioLimits(max_bytes=len(data) - 1))


def test_over_long_file_is_too_large(spoken: dict[str, bytes | np.ndarray]) -> None:
    data = spoken["m4a"]
    assert isinstance(data, bytes)
    with pytest.raises(MediaTooLarge, match="longer"):
        decode_audio(data, AudioLimits(max_seconds=2.0))


def test_a_file_that_hides_its_length_still_stops_at_the_limit() -> None:
    # A streamed WAV (data size 0xFFFFFFFF) declares no usable duration.
    pcm = media.wav_bytes(np.zeros(5 * SAMPLE_RATE, dtype=np.float32))
    streamed = pcm[:40] + b"\xff\xff\xff\xff" + pcm[44:]
    streamed = streamed[:4] + b"\xff\xff\xff\xff" + streamed[8:]
    with pytest.raises(MediaTooLarge, match="longer"):
        decode_audio(streamed, AudioLimits(max_seconds=2.0))
