"""Long lecture recordings for the worker's long-lecture tests, written to disk as they are
encoded (PyAV), never held whole: Piper paragraphs (tests/inference/asr/tts.py, cached)
read in order and repeated, with pauses between them that fill the file to its duration.

The VAD of the ASR service drops the pauses, so an hour-long file with ten minutes of
speech costs the service little more than those ten minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tests.inference.asr import tts
from tests.inference.asr.lecture import PARAGRAPHS

PIPER_RATE = 22_050
# container, codec, bit rate of each accepted extension (phone recorders' usual choices)
FORMATS = {
    ".wav": ("wav", "pcm_s16le", None),
    ".mp3": ("mp3", "libmp3lame", 128_000),
    ".m4a": ("mp4", "aac", 128_000),
}


@dataclass(frozen=True)
class LectureFile:
    path: Path
    seconds: float  # the file's duration
    speech_seconds: float
    text: str  # what is said, in order

    @property
    def words(self) -> int:
        return len(self.text.split())


def speech(paragraphs: int) -> list[tuple[str, np.ndarray]]:
    """The first ``paragraphs`` Piper paragraphs (repeated from the start), int16 22.05 kHz."""
    texts = [PARAGRAPHS[i % len(PARAGRAPHS)] for i in range(paragraphs)]
    unique = list(dict.fromkeys(texts))
    audio = dict(zip(unique, tts.synthesize(unique), strict=True))
    return [(text, audio[text]) for text in texts]


def _frames(
    clips: list[tuple[str, np.ndarray]], pause_s: float, seconds: float, rate: int, layout: str
) -> Iterator[av.AudioFrame]:
    """Speech, pause, speech, pause... at ``rate`` / ``layout``, ``seconds`` long in all."""
    resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
    channels = 2 if layout == "stereo" else 1
    written = 0
    pts = 0

    def silence(samples: int) -> Iterator[av.AudioFrame]:
        nonlocal pts
        step = rate  # one second per frame
        for begin in range(0, samples, step):
            count = min(step, samples - begin)
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, count * channels), dtype=np.int16), format="s16", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = pts
            pts += count
            yield frame

    total = int(seconds * rate)
    for _, samples in clips:
        source = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        source.sample_rate = PIPER_RATE
        for frame in [*resampler.resample(source), *resampler.resample(None)]:
            frame.pts = pts
            pts += frame.samples
            written += frame.samples
            yield frame
        resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        gap = min(int(pause_s * rate), total - written)
        yield from silence(max(0, gap))
        written += max(0, gap)
    yield from silence(max(0, total - written))


def write_lecture(
    path: Path,
    *,
    seconds: float,
    paragraphs: int,
    rate: int = 44_100,
    layout: str = "mono",
    codec: str | None = None,
) -> LectureFile:
    """``paragraphs`` paragraphs spread evenly over ``seconds``, encoded by ``path``'s
    extension (.wav 16-bit PCM, .mp3 or .m4a at 128 kbps) or by ``codec``."""
    clips = speech(paragraphs) if paragraphs else []
    speech_s = sum(samples.shape[0] for _, samples in clips) / PIPER_RATE
    if speech_s > seconds:
        raise ValueError(f"{paragraphs} paragraphs ({speech_s:.0f} s) do not fit {seconds} s")
    pause_s = (seconds - speech_s) / max(1, len(clips))
    container_format, default_codec, bit_rate = FORMATS[path.suffix]
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec or default_codec, rate=rate, layout=layout)
        if not isinstance(stream, av.AudioStream):  # pragma: no cover - audio codecs only
            raise TypeError(f"{codec or default_codec} is not an audio codec")
        if bit_rate:
            stream.bit_rate = bit_rate
        fifo = av.AudioFifo()
        size = stream.codec_context.frame_size or 4096
        for frame in _frames(clips, pause_s, seconds, rate, layout):
            fifo.write(frame)
            while fifo.samples >= size:
                for packet in stream.encode(fifo.read(size)):
                    container.mux(packet)
        rest = fifo.read()
        if rest is not None:
            for packet in stream.encode(rest):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return LectureFile(path, seconds, speech_s, " ".join(text for text, _ in clips))
