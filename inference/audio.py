"""Audio intake: bytes from an upload to 16 kHz mono float32, within limits.

Limits are checked as early as possible: the byte count before opening, the declared
duration before decoding, and the decoded sample count while decoding (a file that lies
about its duration still stops at the limit).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

from inference.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia

SAMPLE_RATE = 16_000

# FFmpeg demuxer names we accept. Everything else (playlists, images, video-only files,
# raw text that FFmpeg would happily read as "tty") is refused.
ACCEPTED_FORMATS = frozenset(
    {"mp3", "wav", "mov,mp4,m4a,3gp,3g2,mj2", "ogg", "flac", "matroska,webm", "aac"}
)


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 4 * 3600.0


def looks_like_audio(data: bytes) -> bool:
    """Magic-byte sniffing: tells a damaged audio file from something that never was one."""
    head = data[:12]
    return (
        head.startswith((b"ID3", b"RIFF", b"OggS", b"fLaC", b"\x1a\x45\xdf\xa3"))
        or head[4:8] == b"ftyp"
        or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0)  # MPEG/ADTS sync
    )


def decode_audio(data: bytes, limits: AudioLimits | None = None) -> np.ndarray:
    """Decode ``data`` to a 1-D float32 array at 16 kHz, mono."""
    limits = limits or AudioLimits()
    if not data:
        raise CorruptMedia("the audio file is empty")
    if len(data) > limits.max_bytes:
        raise MediaTooLarge(f"the audio file is larger than {limits.max_bytes} bytes")
    sniffed = looks_like_audio(data)
    if _wav_truncated(data):
        raise CorruptMedia("the audio file is truncated")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        if sniffed:
            raise CorruptMedia("the audio file is damaged and cannot be read") from exc
        raise UnsupportedMedia("the file is not a supported audio format") from exc
    with container:
        if container.format.name not in ACCEPTED_FORMATS or not container.streams.audio:
            raise UnsupportedMedia("the file is not a supported audio format")
        declared = _declared_seconds(container)
        if declared is not None and declared > limits.max_seconds:
            raise MediaTooLarge(f"the audio is longer than {limits.max_seconds:.0f} seconds")
        samples = _decode_stream(container, int(limits.max_seconds * SAMPLE_RATE))
    if samples.size == 0:
        raise CorruptMedia("no audio could be decoded from the file")
    if declared is not None and samples.size < 0.5 * declared * SAMPLE_RATE - SAMPLE_RATE:
        raise CorruptMedia("the audio file is truncated")
    return samples


def _wav_truncated(data: bytes) -> bool:
    """A WAV whose data chunk promises more bytes than the file holds.

    FFmpeg clamps such a file's duration to what is present, so the duration check below
    cannot see it; the RIFF header still tells.
    """
    if not (data.startswith(b"RIFF") and data[8:12] == b"WAVE"):
        return False
    position = 12
    while position + 8 <= min(len(data), 4096):
        chunk_id = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF mark streamed WAVs whose writer never knew the length.
            present = len(data) - position - 8
            return size not in (0, 0xFFFFFFFF) and present < size // 2
        position += 8 + size + (size & 1)
    return False


def _declared_seconds(container: av.container.InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _decode_stream(container: av.container.InputContainer, max_samples: int) -> np.ndarray:
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                total += chunk.size
                if total > max_samples:
                    raise MediaTooLarge(
                        f"the audio is longer than {max_samples / SAMPLE_RATE:.0f} seconds"
                    )
                chunks.append(chunk)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise CorruptMedia("the audio file is damaged and cannot be decoded") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
