"""Schemas and response formats of the OpenAI-compatible transcription API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from inference.asr_server.engines.base import Segment, Task

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
# Formats that carry segment times: only these make the model decode timestamps.
TIMED_FORMATS = frozenset({"verbose_json", "srt", "vtt"})


class Transcription(BaseModel):
    text: str


class VerboseSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int] = []
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


class VerboseWord(BaseModel):
    word: str
    start: float
    end: float


class VerboseTranscription(BaseModel):
    task: Task = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[VerboseSegment]
    words: list[VerboseWord] | None = None


class TextDelta(BaseModel):
    """``transcript.text.delta``: the text of the next finished window(s)."""

    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    delta: str
    # Beyond OpenAI's fields (its clients ignore them): how far the file is transcribed.
    done_s: float | None = None
    total_s: float | None = None


class TextDone(BaseModel):
    """``transcript.text.done``: the whole text, equal to the deltas joined."""

    type: Literal["transcript.text.done"] = "transcript.text.done"
    text: str


KEEPALIVE = b": keepalive\n\n"  # an SSE comment: clients skip it, proxies see traffic


def sse(event: BaseModel, name: str | None = None) -> bytes:
    """One server-sent event; OpenAI's transcription stream sends ``data:`` lines only."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {event.model_dump_json()}\n\n".encode()


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    engine: str
    batches: int
    windows: int
    max_batch: int
    # Parts chosen on this machine (auto settings), how, and the seconds measured for each.
    choices: dict[str, dict[str, Any]] = {}


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def verbose(
    segments: list[Segment],
    language: str,
    duration: float,
    temperature: float,
    *,
    words: bool = False,
    task: Task = "transcribe",
) -> VerboseTranscription:
    return VerboseTranscription(
        task=task,
        language=language,
        duration=round(duration, 3),
        text=join_text(segments),
        segments=[
            VerboseSegment(
                id=i,
                seek=int(s.start * 100),
                start=round(s.start, 2),
                end=round(s.end, 2),
                text=s.text,
                temperature=temperature,
            )
            for i, s in enumerate(segments)
        ],
        words=[
            VerboseWord(word=w.word.strip(), start=round(w.start, 2), end=round(w.end, 2))
            for s in segments
            for w in s.words
        ]
        if words
        else None,
    )


def join_text(segments: list[Segment]) -> str:
    # Chinese text has no spaces between words; joining with one keeps segments readable.
    return " ".join(s.text for s in segments if s.text).strip()


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: list[Segment]) -> str:
    blocks = [
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: list[Segment]) -> str:
    blocks = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)
