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
delivery tag. The message and its seq are taken in one Redis script, so the seq order is
the queue order across every worker (:class:`GuardedChannel`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from queue import Empty
from time import monotonic
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.json import loads

from worker.receipt import NEXT_SEQ, POP_WITH_SEQ, SEQ_KEY, stamp

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
    """Takes task messages off the queue with :data:`POP_WITH_SEQ` (the pop and the seq
    in one Redis script), checks them and stamps them before kombu records the delivery.

    ``BRPOP`` cannot draw a seq, and a Lua script cannot block. So the channel waits
    with ``BLMOVE celery celery RIGHT RIGHT`` (Redis 6.2+), which blocks until the queue
    is non-empty and puts the item straight back where it was, then takes the message
    with the script. A worker that loses the race gets nothing and waits again."""

    _pop_keys: list[str] | None = None  # the keys of the pending wake-up, None: BRPOP
    _popped_seq: int | None = None  # the seq drawn with the message being delivered
    _blmove: bool | None = None

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        consumed = super().basic_consume(queue, *args, **kwargs)  # type: ignore[no-untyped-call]
        if queue in TASK_QUEUES:
            record = self.connection._callbacks[queue]

            def checked_and_stamped(message: Any) -> Any:
                # Drawn with the pop; without BLMOVE (or for a basic_get) right away: it
                # orders the message by its place in the queue, and the check takes
                # milliseconds for a long transcript (docs/worker.md).
                seq = self._popped_seq if self._popped_seq is not None else self._next_seq()
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

    def _atomic_take(self) -> bool:
        """The atomic take needs BLMOVE (Redis 6.2+) and a task queue to wait on."""
        if not TASK_QUEUES.intersection(self.active_queues):
            return False
        if self._blmove is None:
            probe = self.global_keyprefix + "studysavvy:blmove-probe"  # never exists
            try:
                self.client.execute_command("LMOVE", probe, probe, "RIGHT", "RIGHT")
                self._blmove = True
            except redis.ResponseError:
                self._blmove = False
                log.error(
                    "this Redis has no BLMOVE (Redis 6.2+ needed): task messages are "
                    "ordered after BRPOP, exactly within one worker process but not "
                    "across several (docs/worker.md)"
                )
        return bool(self._blmove)

    def _brpop_start(self, timeout: int | None = None) -> None:
        self._pop_keys = None
        if not self._atomic_take():
            super()._brpop_start(timeout)  # type: ignore[no-untyped-call]
            return
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        prefix = self.global_keyprefix
        # kombu's BRPOP order: every queue at priority 0 first, then the next step.
        self._pop_keys = [
            prefix + self._q_for_pri(queue, pri)  # type: ignore[no-untyped-call]
            for pri in self.priority_steps
            for queue in queues
        ]
        wait = prefix + next(queue for queue in queues if queue in TASK_QUEUES)
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()  # type: ignore[assignment]
        self.client.connection.send_command("BLMOVE", wait, wait, "RIGHT", "RIGHT", timeout or 0)

    def _pop_with_seq(self, keys: list[str]) -> Any:
        try:
            return self.client.execute_command("EVAL", POP_WITH_SEQ, len(keys) + 1, *keys, SEQ_KEY)
        except redis.ResponseError as error:
            # The script refused (say, out of memory) before it took anything: take the
            # message without a seq rather than stall the queue.
            log.warning("Redis refused the take script", extra={"error": type(error).__name__})
            for key in keys:  # the client adds the global key prefix itself
                item = self.client.execute_command("RPOP", key[len(self.global_keyprefix) :])
                if item is not None:
                    return [key.encode(), item, None]
            return None

    def _brpop_read(self, **options: Any) -> Any:
        try:
            if self._pop_keys is None:
                return super()._brpop_read(**options)  # type: ignore[no-untyped-call]
            return self._take(**options)
        except MalformedMessage:
            raise Empty() from None
        except ValueError:  # JSONDecodeError and UnicodeDecodeError of the raw item
            log.error("dropped a queue item that is not JSON")
            raise Empty() from None

    def _take(self, **options: Any) -> bool:
        keys, self._pop_keys = self._pop_keys or [], None
        try:
            try:
                # Only a wake-up: BLMOVE left the item in the queue. It may hold another
                # queue's message or time out: the script below looks at every queue.
                self.client.parse_response(self.client.connection, "BLMOVE", **options)
                self._in_poll = None  # type: ignore[assignment]
                if self._closing:  # kombu's close() reads the pending reply: take nothing
                    raise Empty()
                taken = self._pop_with_seq(keys)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not taken:
                raise Empty()  # another worker took it, or nothing came
            key, item, seq = taken
            dest = key.decode()[len(self.global_keyprefix) :].rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            self._popped_seq = int(seq) if seq is not None else None
            try:
                self.connection._deliver(loads(item.decode()), dest)  # type: ignore[no-untyped-call]
            finally:
                self._popped_seq = None
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()  # type: ignore[no-untyped-call]


class GuardedTransport(kombu_redis.Transport):  # type: ignore[misc]
    """The Redis transport with :class:`GuardedChannel`, which checks and stamps every
    item of the task queue before kombu records its delivery."""

    Channel = GuardedChannel
