"""Domain errors of the inference services and the one table that maps them.

Engines raise these; the HTTP layer turns them into status codes with
:func:`http_status_for`, and the worker decides retry or fail from a status code with
:func:`outcome_for_status`. Messages are written for end users: they never carry a
traceback, a path outside the request or a secret.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What a caller (the Celery worker) should do with a failed request."""

    RETRY = "retry"
    FAIL = "fail"


class InferenceError(Exception):
    """Base of every error an engine or media decoder raises on purpose."""

    code = "inference_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedMedia(InferenceError):
    """The bytes are not a media type this service accepts (wrong type or container)."""

    code = "unsupported_media"


class CorruptMedia(InferenceError):
    """The media type is accepted but the bytes cannot be decoded (truncated, empty...)."""

    code = "corrupt_media"


class MediaTooLarge(InferenceError):
    """Too many bytes, pixels or seconds."""

    code = "media_too_large"


class InvalidRequest(InferenceError):
    """A parameter is out of range or unknown."""

    code = "invalid_request"


class ModelNotReady(InferenceError):
    """The model is not loaded yet, or its backend (e.g. Triton) cannot serve."""

    code = "model_not_ready"


class Overloaded(InferenceError):
    """The batch queue is full; the caller should back off and retry."""

    code = "overloaded"


class Unauthorized(InferenceError):
    """A bearer token is required and was missing or wrong."""

    code = "unauthorized"


# The single table: error type -> (HTTP status, what a client should do).
ERROR_TABLE: dict[type[InferenceError], tuple[int, Outcome]] = {
    UnsupportedMedia: (415, Outcome.FAIL),
    CorruptMedia: (400, Outcome.FAIL),
    MediaTooLarge: (413, Outcome.FAIL),
    InvalidRequest: (422, Outcome.FAIL),
    Unauthorized: (401, Outcome.FAIL),
    Overloaded: (429, Outcome.RETRY),
    ModelNotReady: (503, Outcome.RETRY),
}

# Statuses a client retries even when no domain error produced them (gateways, timeouts).
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def http_status_for(error: InferenceError) -> int:
    """The HTTP status of a domain error (500 for an unknown subclass)."""
    for kind in type(error).__mro__:
        if kind in ERROR_TABLE:
            return ERROR_TABLE[kind][0]  # type: ignore[index]
    return 500


def outcome_for_status(status: int) -> Outcome:
    """Retry or fail, for a status code answered by an inference service."""
    return Outcome.RETRY if status in _TRANSIENT_STATUSES else Outcome.FAIL
