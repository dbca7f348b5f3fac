"""The ASR service's transcript stream (``stream=true``), as events a mission acts on.

The service sends, in file order, one ``transcript.text.delta`` per finished window
(``delta`` may be empty; ``done_s`` of ``total_s`` seconds are transcribed), then one
``transcript.text.done`` with the whole text. A failure after the stream began ends it
with an ``error`` event; a stream that stops without ``done`` is incomplete (the
connection was lost): both raise here, retry or fail as the status table says.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from inference.errors import ERROR_TABLE, Outcome, outcome_for_status
from worker.errors import PermanentError, TransientError
from worker.sse import COMMENT, SseEvent

# Error type of an ``error`` event -> the status the same refusal gets before a stream.
_STATUS_OF_CODE = {kind.code: status for kind, (status, _) in ERROR_TABLE.items()}
_MESSAGE_LIMIT = 200


@dataclass(frozen=True)
class TranscriptDelta:
    delta: str
    done_s: float | None  # None from a service that does not report its progress
    total_s: float | None


@dataclass(frozen=True)
class TranscriptDone:
    text: str


@dataclass(frozen=True)
class Keepalive:
    """A comment line: the service is alive, nothing new is transcribed."""


TranscriptEvent = TranscriptDelta | TranscriptDone | Keepalive


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _payload(data: str, service: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except ValueError:
        raise TransientError(f"{service} service sent an unreadable reply") from None
    if not isinstance(payload, dict):
        raise TransientError(f"{service} service sent an unreadable reply")
    return payload


def stream_failure(payload: dict[str, Any], service: str) -> Exception:
    """The mission error of an ``error`` event: its type decides retry (overloaded, model
    not ready, an unknown internal error) or fail (bad or too long media)."""
    error = payload.get("error")
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "transcription failed")[:_MESSAGE_LIMIT]
    status = _STATUS_OF_CODE.get(str(error.get("type", "")), 500)
    text = f"{service} service: {message}"
    if outcome_for_status(status) is Outcome.RETRY:
        return TransientError(text)
    return PermanentError(text)


def transcript_events(
    events: Iterable[SseEvent], service: str = "ASR"
) -> Iterator[TranscriptEvent]:
    """Deltas and keepalives, then the done event; raises on an error event or when the
    events end without ``done``."""
    for event in events:
        if event.event == COMMENT:
            yield Keepalive()
            continue
        payload = _payload(event.data, service)
        if event.event == "error":
            raise stream_failure(payload, service)
        kind = payload.get("type")
        if kind == "transcript.text.delta":
            yield TranscriptDelta(
                str(payload.get("delta") or ""),
                _seconds(payload.get("done_s")),
                _seconds(payload.get("total_s")),
            )
        elif kind == "transcript.text.done":
            yield TranscriptDone(str(payload.get("text") or ""))
            return
    raise TransientError(f"{service} service's transcript stream ended before the transcript")
