"""The two kinds of mission failure the tasks act on: retry later, or fail now.

Messages are readable by a user and end up in ``files.result.error``: they never quote a
credential, a mail code or a remote server's raw reply.
"""

from __future__ import annotations


class MissionError(Exception):
    """Base of every failure a mission raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type[MissionError], tuple[str]]:
        # Keeps the exception picklable/serialisable with only its readable message.
        return (type(self), (self.message,))


class PermanentError(MissionError):
    """Retrying cannot help (bad input, refused credential, corrupt media)."""


class TransientError(MissionError):
    """A dependency is down or busy; the task retries with backoff."""


class CredentialError(PermanentError):
    """Every decryption failure, whatever its cause: one message, so no oracle."""

    GENERIC = "credential could not be decrypted"

    def __init__(self, message: str = GENERIC) -> None:
        super().__init__(self.GENERIC)
