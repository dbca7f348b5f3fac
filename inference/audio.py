"""Audio intake: an upload to 16 kHz mono float32, within limits, whole or block by block.

Limits are checked as early as possible: the byte count before opening, the declared
duration before decoding, and the decoded sample count while decoding (a file that lies
about its duration still stops at the limit). :func:`open_audio` reads a file object
(an upload spooled to disk) and yields its samples in blocks, so that a 4-hour lecture
never sits whole in memory; :func:`decode_audio` is the same, joined, for short bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

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
    source = open_audio(io.BytesIO(data), limits)
    with source:
        blocks = list(source.blocks())
    if not blocks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(blocks).astype(np.float32, copy=False)


class AudioSource:
    """An opened audio file that passed every check that can be made before decoding."""

    def __init__(
        self, file: BinaryIO, container: av.container.InputContainer, limits: AudioLimits
    ) -> None:
        self._file = file
        self._container = container
        self._limits = limits
        self.declared_seconds = _declared_seconds(container)
        self.decoded_samples = 0

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def blocks(self, block_seconds: float = 60.0) -> Iterator[np.ndarray]:
        """The samples, in blocks of about ``block_seconds`` (the last one shorter).

        Raises :class:`MediaTooLarge` once the limit is passed, and :class:`CorruptMedia`
        for a damaged stream, or one far shorter than it declared, when that shows.
        """
        target = max(1, int(block_seconds * SAMPLE_RATE))
        max_samples = int(self._limits.max_seconds * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        held = 0
        for chunk in _decoded_chunks(self._container):
            self.decoded_samples += chunk.size
            if self.decoded_samples > max_samples:
                raise MediaTooLarge(
                    f"the audio is longer than {self._limits.max_seconds:.0f} seconds"
                )
            pending.append(chunk)
            held += chunk.size
            if held >= target:
                yield np.concatenate(pending)
                pending, held = [], 0
        if pending:
            yield np.concatenate(pending)
        if self.decoded_samples == 0:
            raise CorruptMedia("no audio could be decoded from the file")
        declared = self.declared_seconds
        if (
            declared is not None
            and self.decoded_samples < 0.5 * declared * SAMPLE_RATE - SAMPLE_RATE
        ):
            raise CorruptMedia("the audio file is truncated")


def open_audio(file: BinaryIO, limits: AudioLimits | None = None) -> AudioSource:
    """Open ``file`` (seekable) as audio; refuse what can be refused without decoding."""
    limits = limits or AudioLimits()
    size = file.seek(0, io.SEEK_END)
    file.seek(0)
    if size == 0:
        raise CorruptMedia("the audio file is empty")
    if size > limits.max_bytes:
        raise MediaTooLarge(f"the audio file is larger than {limits.max_bytes} bytes")
    head = file.read(4096)
    file.seek(0)
    sniffed = looks_like_audio(head)
    if _wav_truncated(head, size):
        raise CorruptMedia("the audio file is truncated")
    try:
        container = av.open(file, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        if sniffed:
            raise CorruptMedia("the audio file is damaged and cannot be read") from exc
        raise UnsupportedMedia("the file is not a supported audio format") from exc
    source = AudioSource(file, container, limits)
    try:
        if container.format.name not in ACCEPTED_FORMATS or not container.streams.audio:
            raise UnsupportedMedia("the file is not a supported audio format")
        declared = source.declared_seconds
        if declared is not None and declared > limits.max_seconds:
            raise MediaTooLarge(f"the audio is longer than {limits.max_seconds:.0f} seconds")
    except Exception:
        source.close()
        raise
    return source


def _wav_truncated(head: bytes, size: int) -> bool:
    """A WAV whose data chunk promises more bytes than the file holds.

    FFmpeg clamps such a file's duration to what is present, so the duration check below
    cannot see it; the RIFF header still tells.
    """
    if not (head.startswith(b"RIFF") and head[8:12] == b"WAVE"):
        return False
    position = 12
    while position + 8 <= len(head):
        chunk_id = head[position : position + 4]
        length = int.from_bytes(head[position + 4 : position + 8], "little")
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF mark streamed WAVs whose writer never knew the length.
            present = size - position - 8
            return length not in (0, 0xFFFFFFFF) and present < length // 2
        position += 8 + length + (length & 1)
    return False


def _declared_seconds(container: av.container.InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _decoded_chunks(container: av.container.InputContainer) -> Iterator[np.ndarray]:
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)
    except av.FFmpegError as exc:
        raise CorruptMedia("the audio file is damaged and cannot be decoded") from exc
