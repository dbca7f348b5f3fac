"""The Redis broker transport, hardened against malformed messages on the queue.

Anything that can LPUSH to ``celery`` can put bytes there that are not a Celery
envelope. Stock kombu parses them inside its poll loop, so a single ``not json`` item
stops the whole worker ("Unrecoverable error: JSONDecodeError"). This transport drops
such an item with one log line (no content: it may carry credentials) and keeps serving.
Well-formed envelopes with a bad body (not base64, not JSON, unknown task) still reach
Celery, which rejects them itself.
"""

from __future__ import annotations

import logging
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

_HEADERS = ("task", "id")


def is_envelope(message: Any) -> bool:
    """The shape every Celery protocol-2 message has (contract.md section 1)."""
    if not isinstance(message, dict) or not isinstance(message.get("body"), str):
        return False
    headers, properties = message.get("headers"), message.get("properties")
    if not isinstance(headers, dict) or not isinstance(properties, dict):
        return False
    if not all(isinstance(headers.get(key), str) for key in _HEADERS):
        return False
    info = properties.get("delivery_info")
    return isinstance(properties.get("delivery_tag"), str) and isinstance(info, dict)


class MalformedMessage(Exception):
    """Raised by the transport, caught by the channel: the item is dropped."""


class GuardedChannel(kombu_redis.Channel):  # type: ignore[misc]
    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[no-untyped-call]
        except MalformedMessage:
            raise Empty() from None
        except ValueError:  # JSONDecodeError and UnicodeDecodeError of the raw item
            log.error("dropped a queue item that is not JSON")
            raise Empty() from None


class GuardedTransport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = GuardedChannel

    def _deliver(self, message: Any, queue: str) -> None:
        if not is_envelope(message):
            log.error("dropped a queue item that is not a Celery message", extra={"queue": queue})
            raise MalformedMessage
        super()._deliver(message, queue)  # type: ignore[no-untyped-call]
