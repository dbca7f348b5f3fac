"""HTTP clients of the ASR and OCR services: upload the file bytes, get text back.

Connection errors, timeouts and the statuses :func:`inference.errors.outcome_for_status`
marks as retryable (429, 503...) raise :class:`TransientError`; any other error status is
permanent, with the service's own readable message (e.g. "unsupported audio format").
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from inference.errors import Outcome, outcome_for_status
from worker.deadline import Deadline
from worker.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

_MESSAGE_LIMIT = 200


def _service_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
    return str(message)[:_MESSAGE_LIMIT]


class InferenceClient:
    """One service (ASR or OCR), one pooled, thread-safe HTTP client."""

    def __init__(self, service: str, base_url: str, token: str | None, timeout_s: float) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.service = service
        self._timeout_s = timeout_s
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
        )

    def close(self) -> None:
        self._http.close()

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
        timeout = httpx.Timeout(read_s, connect=min(10.0, read_s))
        try:
            response = self._http.post(
                path, files={"file": (filename, data)}, data=form, timeout=timeout
            )
        except httpx.TransportError:
            if deadline is not None:
                deadline.check(doing)
            raise TransientError(f"{self.service} service is unreachable or timed out") from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise TransientError(f"{self.service} service sent an unreadable reply") from None
        message = f"{self.service} service: {_service_message(response)}"
        log.info(
            "inference request failed",
            extra={"service": self.service, "status": response.status_code},
        )
        if outcome_for_status(response.status_code) is Outcome.RETRY:
            raise TransientError(message)
        raise PermanentError(message)

    def transcribe(self, filename: str, data: bytes, deadline: Deadline | None = None) -> str:
        """Traditional Chinese transcript of an audio file (OpenAI audio API)."""
        form = {"response_format": "json"}
        body = self._post("/v1/audio/transcriptions", filename, data, form, deadline)
        return str(body.get("text", "")) if isinstance(body, dict) else ""

    def recognize(self, filename: str, data: bytes, deadline: Deadline | None = None) -> str:
        """The text of an essay photo, lines joined by newlines."""
        body = self._post("/v1/ocr", filename, data, {}, deadline)
        return str(body.get("text", "")) if isinstance(body, dict) else ""
