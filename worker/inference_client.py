"""HTTP clients of the ASR and OCR services.

Connection errors, timeouts and the statuses :func:`inference.errors.outcome_for_status`
marks as retryable (429, 503...) raise :class:`TransientError`; any other error status is
permanent, with the service's own readable message (e.g. "unsupported audio format").

Audio is streamed from its open file (httpx reads a file part in 64 KiB pieces), never
held in memory, and the transcript is read as server-sent events while the service
produces it (:meth:`InferenceClient.stream_transcript`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, BinaryIO

import httpx

from inference.errors import Outcome, outcome_for_status
from worker.deadline import MIN_REQUEST_S, Deadline
from worker.errors import PermanentError, TransientError
from worker.sse import read_events
from worker.transcript_stream import TranscriptDelta, TranscriptEvent, transcript_events

log = logging.getLogger(__name__)

_MESSAGE_LIMIT = 200
_CONNECT_S = 10.0


@dataclass(frozen=True)
class StreamTimeouts:
    """How long a transcript stream may take (settings ``INFERENCE_STREAM_*``).

    ``idle_s``: the longest wait for any byte (an event or a keepalive) once the stream
    has begun, and for each write of the upload; ``base_s + per_audio_s * total_s``: the
    whole request, from the upload's start, once the service has said how long the audio
    is. The wait for the stream to begin (upload, decoding, planning) is the client's
    ``timeout_s``."""

    idle_s: float = 60.0
    base_s: float = 300.0
    per_audio_s: float = 1.0


def _service_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
    return str(message)[:_MESSAGE_LIMIT]


def _wait_per_event(response: httpx.Response, seconds: float) -> None:
    """From here on each read of the body waits at most ``seconds``.

    httpcore takes the read timeout from the request's ``timeout`` extension when it
    starts reading the body, after the headers: the headers get the long first wait, the
    events a short one (tests/worker/test_transcript_client.py checks both)."""
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        timeouts["read"] = seconds


class InferenceClient:
    """One service (ASR or OCR), one pooled, thread-safe HTTP client."""

    def __init__(
        self,
        service: str,
        base_url: str,
        token: str | None,
        timeout_s: float,
        stream: StreamTimeouts | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.service = service
        self._timeout_s = timeout_s
        self._stream = stream or StreamTimeouts()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=_CONNECT_S),
        )

    def close(self) -> None:
        self._http.close()

    def _refused(self, response: httpx.Response) -> Exception:
        message = f"{self.service} service: {_service_message(response)}"
        log.info(
            "inference request failed",
            extra={"service": self.service, "status": response.status_code},
        )
        if outcome_for_status(response.status_code) is Outcome.RETRY:
            return TransientError(message)
        return PermanentError(message)

    def _unreachable(self, deadline: Deadline | None, doing: str) -> TransientError:
        if deadline is not None:
            deadline.check(doing)
        return TransientError(f"{self.service} service is unreachable or timed out")

    def _post(
        self,
        path: str,
        filename: str,
        data: bytes,
        form: dict[str, str],
        deadline: Deadline | None,
    ) -> Any:
        doing = f"waiting for the {self.service} service"
        read_s = self._timeout_s if deadline is None else deadline.timeout_s(self._timeout_s, doing)
        timeout = httpx.Timeout(read_s, connect=min(_CONNECT_S, read_s))
        try:
            response = self._http.post(
                path, files={"file": (filename, data)}, data=form, timeout=timeout
            )
        except httpx.TransportError:
            raise self._unreachable(deadline, doing) from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise TransientError(f"{self.service} service sent an unreadable reply") from None
        raise self._refused(response)

    def stream_transcript(
        self, filename: str, media: BinaryIO, deadline: Deadline | None = None
    ) -> Generator[TranscriptEvent, None, None]:
        """The transcript events of an audio file, read as the service sends them.

        ``media`` is an open file: it is uploaded in pieces, from its start (a retry of
        the mission uploads it again). Refusals before the stream (400, 413, 415, 429,
        503) raise as for any request; an error event, a lost connection, a stream that
        ends early, an idle service or one slower than the audio's wait raise too."""
        doing = f"waiting for the {self.service} service"
        limits = self._stream
        first_s = self._timeout_s
        if deadline is not None:
            first_s = deadline.timeout_s(first_s, doing)
        timeout = httpx.Timeout(
            connect=min(_CONNECT_S, first_s), read=first_s, write=limits.idle_s, pool=first_s
        )
        form = {"response_format": "json", "stream": "true"}
        started = time.monotonic()
        wait_s: float | None = None
        try:
            with self._http.stream(
                "POST",
                "/v1/audio/transcriptions",
                files={"file": (filename, media)},
                data=form,
                timeout=timeout,
            ) as response:
                if response.status_code != 200:
                    response.read()  # a refusal's body is one small JSON document
                    raise self._refused(response)
                idle_s = limits.idle_s
                if deadline is not None:
                    idle_s = min(idle_s, max(MIN_REQUEST_S, deadline.remaining_s()))
                _wait_per_event(response, idle_s)
                for event in transcript_events(read_events(response.iter_lines()), self.service):
                    if deadline is not None:
                        deadline.check(doing)
                    if wait_s is None and isinstance(event, TranscriptDelta) and event.total_s:
                        wait_s = limits.base_s + limits.per_audio_s * event.total_s
                    if wait_s is not None and time.monotonic() - started > wait_s:
                        raise TransientError(
                            f"{self.service} service took longer than {wait_s:.0f} s "
                            "for the audio's transcript"
                        )
                    yield event
        except httpx.TransportError:
            raise self._unreachable(deadline, doing) from None

    def recognize(self, filename: str, data: bytes, deadline: Deadline | None = None) -> str:
        """The text of an essay photo, lines joined by newlines."""
        body = self._post("/v1/ocr", filename, data, {}, deadline)
        return str(body.get("text", "")) if isinstance(body, dict) else ""
