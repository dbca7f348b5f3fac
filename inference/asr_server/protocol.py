"""Schemas and response formats of the OpenAI-compatible transcription API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from inference.asr_server.engines.base import Segment

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]


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


class VerboseTranscription(BaseModel):
    task: Literal["transcribe"] = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[VerboseSegment]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    engine: str
    batches: int
    windows: int
    max_batch: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def verbose(
    segments: list[Segment], language: str, duration: float, temperature: float
) -> VerboseTranscription:
    return VerboseTranscription(
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
