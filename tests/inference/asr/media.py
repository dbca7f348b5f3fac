"""Test speech made at test time: espeak-ng sentences, encoded with PyAV (no ffmpeg binary)."""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import av
import numpy as np

RATE = 16_000

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Students should review the chapter on photosynthesis before the exam.",
    "The final exam will cover the chapters about energy and motion.",
    "Please bring a pencil and a calculator to the classroom on Monday.",
    "Water boils quickly when the pot is covered.",
    "The teacher explained how plants turn sunlight into energy.",
    "Homework is due every Friday before noon.",
    "Remember to read the article about climate change.",
    "The library closes early in the evening.",
    "We will have a short quiz about the solar system next week.",
    "Cells are the basic building blocks of every living thing.",
    "Gravity pulls every object toward the center of the earth.",
]


def speak(text: str, path: Path, speed: int = 150) -> Path:
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


def read_wav(path: Path) -> np.ndarray:
    """espeak-ng writes 22.05 kHz 16-bit mono; resample to 16 kHz float32 with PyAV."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def wav_bytes(samples: np.ndarray) -> bytes:
    """16-bit PCM WAV of 16 kHz mono float32 samples."""
    buffer = io.BytesIO()
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def encode(samples: np.ndarray, path: Path) -> Path:
    """Encode 16 kHz mono float32 to ``path``: .mp3 (MP3) or .m4a (AAC in MP4)."""
    codec, container_format = {".mp3": ("libmp3lame", "mp3"), ".m4a": ("aac", "mp4")}[path.suffix]
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=RATE, layout="mono")
        stream.bit_rate = 64_000  # the encoders' defaults at 16 kHz are too lossy for speech
        frame_size = 1152 if codec == "libmp3lame" else 1024
        pcm = samples.astype(np.float32)
        for begin in range(0, pcm.shape[0], frame_size):
            chunk = pcm[begin : begin + frame_size].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = RATE
            frame.pts = begin
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def lecture(
    sentences: list[np.ndarray], seconds: float, pause: float = 0.7
) -> tuple[np.ndarray, int]:
    """Sentences in a loop separated by pauses until ``seconds`` are filled (whole sentences).

    Returns the audio and how many sentences it holds (see :func:`lecture_text`).
    """
    gap = np.zeros(int(pause * RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    total = 0
    index = 0
    while total < seconds * RATE:
        clip = sentences[index % len(sentences)]
        parts += [clip, gap]
        total += clip.shape[0] + gap.shape[0]
        index += 1
    return np.concatenate(parts), index


def lecture_text(count: int) -> str:
    return " ".join(SENTENCES[i % len(SENTENCES)] for i in range(count))
