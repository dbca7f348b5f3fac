"""The Redis broker transport, hardened against malformed messages on the task queue.

Anything that can LPUSH to ``celery`` can put bytes there that are not a Celery task
message. Stock kombu and Celery handle some of them badly:

* an item that is not JSON stops the whole worker inside kombu's poll loop
  ("Unrecoverable error: JSONDecodeError");
* a well-formed envelope whose body is not ``[args, kwargs, embed]`` raises inside
  Celery's strategy after kombu has recorded the delivery, so the message is neither
  acked nor rejected: it holds a prefetch slot and comes back after every visibility
  timeout, and a few of them starve the worker.

This transport checks every item on the task queue before kombu records the delivery,
and drops what is not a protocol-2 JSON task message with one log line (no content: it
may carry credentials). Remote-control (pidbox) and event traffic is left alone.

It also stamps every task message when it is first taken off the queue (see
:mod:`worker.receipt`): the backend reuses the row id as task id *and* as delivery tag,
so neither tells two messages of one row apart, and kombu keys its unacked hash by the
delivery tag.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from worker.receipt import NEXT_SEQ, SEQ_KEY, stamp

log = logging.getLogger(__name__)

# contract.md section 1: the backend pushes onto the default queue only.
TASK_QUEUES = frozenset({"celery"})
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


def is_task_message(message: Any) -> bool:
    """An envelope with a JSON, UTF-8 body of ``[args: list, kwargs: dict, embed: dict]``."""
    if not is_envelope(message):
        return False
    if message.get("content-type") != "application/json":
        return False
    if str(message.get("content-encoding", "utf-8")).lower() not in {"utf-8", "utf8"}:
        return False
    body: str = message["body"]
    try:
        raw = (
            base64.b64decode(body, validate=True)
            if message["properties"].get("body_encoding") == "base64"
            else body.encode()
        )
        decoded = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError):
        return False
    return (
        isinstance(decoded, list)
        and len(decoded) == 3
        and isinstance(decoded[0], list)
        and isinstance(decoded[1], dict)
        and isinstance(decoded[2], dict)
    )


class MalformedMessage(Exception):
    """Raised by the transport, caught by the channel: the item is dropped."""


class GuardedChannel(kombu_redis.Channel):  # type: ignore[misc]
    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        consumed = super().basic_consume(queue, *args, **kwargs)  # type: ignore[no-untyped-call]
        if queue in TASK_QUEUES:
            record = self.connection._callbacks[queue]

            def checked_and_stamped(message: Any) -> Any:
                # The seq first: it orders the message by its place in the queue, and the
                # check takes milliseconds for a long transcript (docs/worker.md).
                seq = self._next_seq()
                if not is_task_message(message):
                    log.error(
                        "dropped a queue item that is not a Celery task message",
                        extra={"queue": queue},
                    )
                    raise MalformedMessage
                # Before kombu records the delivery: the unacked hash (what a restore
                # puts back on the queue) then holds the stamped message.
                stamp(message, lambda: seq, self._last_seq)
                return record(message)

            self.connection._callbacks[queue] = checked_and_stamped
        return consumed

    def _next_seq(self) -> int | None:
        try:
            with self.conn_or_acquire() as client:
                return int(client.eval(NEXT_SEQ, 1, SEQ_KEY))
        except (redis.RedisError, ValueError):
            log.warning("could not draw a receipt sequence; this message is not ordered")
            return None

    def _last_seq(self) -> int | None:
        try:
            with self.conn_or_acquire() as client:
                last = client.get(SEQ_KEY)
            return int(last) if last is not None else None
        except (redis.RedisError, ValueError):
            return None

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[no-untyped-call]
        except MalformedMessage:
            raise Empty() from None
        except ValueError:  # JSONDecodeError and UnicodeDecodeError of the raw item
            log.error("dropped a queue item that is not JSON")
            raise Empty() from None


class GuardedTransport(kombu_redis.Transport):  # type: ignore[misc]
    """The Redis transport with :class:`GuardedChannel`, which checks and stamps every
    item of the task queue before kombu records its delivery."""

    Channel = GuardedChannel
