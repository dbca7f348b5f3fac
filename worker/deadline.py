"""A mission's time limit, enforced by the mission itself.

Celery's thread and gevent pools ignore ``task_time_limit`` (only prefork can kill a
task), and the worker runs on threads. So each try of a mission carries a
:class:`Deadline`: every LLM, ASR and OCR request checks it before it starts, and its
timeout is cut to the time that is left. A mission past its limit ends ``FAILURE`` with
a readable reason before Redis's visibility timeout could hand the message to a second
worker. Only new work is refused: a result already computed is still saved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from worker.errors import PermanentError

# A request with less time than this left is not worth starting.
MIN_REQUEST_S = 1.0


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() when the mission must give up
    limit_s: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(at=time.monotonic() + seconds, limit_s=seconds)

    def remaining_s(self) -> float:
        return self.at - time.monotonic()

    def check(self, doing: str) -> None:
        """Raises :class:`PermanentError` once the limit has passed."""
        if self.remaining_s() <= 0:
            raise PermanentError(
                f"the mission ran past its time limit of {self.limit_s:g} s ({doing})"
            )

    def timeout_s(self, wanted: float, doing: str) -> float:
        """``wanted``, cut to the time left; raises when too little is left to start."""
        left = self.remaining_s()
        if left < MIN_REQUEST_S:
            self.check(doing)
            left = MIN_REQUEST_S
        return min(wanted, left)
