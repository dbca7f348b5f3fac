"""Which message is this? The receipt the worker stamps on each task message.

The Go backend sets ``headers.id``, ``root_id``, ``correlation_id``, ``reply_to`` and
``delivery_tag`` of every row task to the row id (contract.md section 1), so a row's
first mission and each of its edits arrive under one id. Nothing in the message tells
two of them apart but their queue position and their body, and two saves of the same
text have the same body.

So the worker names each message itself, the moment it takes it off the queue (the
transport, :mod:`worker.broker`, calls :func:`stamp` before kombu records the delivery):

* ``receipt``: a random id. Kombu keeps the stamped message in its unacked hash and a
  restore (worker killed, visibility timeout, warm shutdown) puts exactly that message
  back, and Celery copies custom headers into the message of a retry, so every
  redelivery and every retry of a message carries its receipt, while a new push by the
  backend is a new message without one.
* ``seq``: drawn in the same Redis script that takes the message off the queue
  (:data:`POP_WITH_SEQ`), so seq order is the order messages left the queue, which is
  the order the backend pushed them (``LPUSH`` + ``RPOP``), across any number of
  workers. A row keeps the ``seq`` of the message that wrote it, and an older message
  never overwrites a newer one (:mod:`worker.store`). docs/worker.md states the limits.

The backend's delivery tag (the row id) is replaced by the receipt too: kombu keys
unacked messages by tag, and two in-flight messages of one row would otherwise share one
entry, so acking one would drop the other's safety copy.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

HEADER = "studysavvy"
SEQ_KEY = "studysavvy:receipt-seq"
_RECEIPT = re.compile(r"[0-9a-f]{32}")

# max(server time in µs, last + 1): increasing, and still increasing after the key is
# lost (Redis flushed or restored without it), so a row's stored seq never blocks the
# next edit. Redis 5+ replicates script effects, so TIME is allowed.
_DRAW = """
local now = redis.call('TIME')
local seq = tonumber(now[1]) * 1000000 + tonumber(now[2])
local last = tonumber(redis.call('GET', seq_key) or '0')
if last >= seq then seq = last + 1 end
local text = string.format('%.0f', seq)
redis.call('SET', seq_key, text)
"""

# KEYS[1]: the seq key.
NEXT_SEQ = "local seq_key = KEYS[1]" + _DRAW + "return text"

# The transport's take (worker.broker): KEYS[1..n-1] the queue keys in kombu's BRPOP
# order, KEYS[n] the seq key. Pops the first non-empty queue and draws the seq in the
# same script, so no other client can pop or draw in between: seq order is pop order.
# The seq is drawn before the pop: if the draw fails (a full noeviction server refuses
# the SET) the script stops with nothing taken.
POP_WITH_SEQ = (
    """
local seq_key = KEYS[#KEYS]
for i = 1, #KEYS - 1 do
  if redis.call('LLEN', KEYS[i]) > 0 then"""
    + _DRAW
    + """    return {KEYS[i], redis.call('RPOP', KEYS[i]), text}
  end
end
return false
"""
)


@dataclass(frozen=True)
class Receipt:
    """One message: its task id, its receipt and its place in the queue order."""

    task_id: str
    message: str  # the receipt; the task id for a message the transport did not stamp
    seq: int | None


def _valid(found: Any) -> bool:
    return (
        isinstance(found, dict)
        and isinstance(found.get("receipt"), str)
        and _RECEIPT.fullmatch(found["receipt"]) is not None
        and (found.get("seq") is None or type(found.get("seq")) is int)
    )


def stamp(
    message: dict[str, Any],
    next_seq: Callable[[], int | None],
    last_seq: Callable[[], int | None] = lambda: None,
) -> None:
    """Stamps a message taken off the queue for the first time; leaves a redelivery or a
    retry (already stamped) as it is.

    A stamp whose seq was never drawn (above the last one drawn: pushed with a forged
    header) is replaced, or it would win over every later edit of its row."""
    headers = message["headers"]
    found = headers.get(HEADER)
    if _valid(found) and not _ahead(found.get("seq"), last_seq):
        # A restored message still has the receipt as its tag; a retry has the fresh tag
        # kombu gave it, kept so that it never shares one with the message it retries.
        return
    receipt = uuid.uuid4().hex
    headers[HEADER] = {"receipt": receipt, "seq": next_seq()}
    message["properties"]["delivery_tag"] = receipt


def _ahead(seq: int | None, last_seq: Callable[[], int | None]) -> bool:
    if seq is None:
        return False
    last = last_seq()
    return last is not None and seq > last


def receipt_of(request: Any) -> Receipt:
    """The receipt of the message a Celery task request came from."""
    task_id = str(request.id)
    found: Any = getattr(request, HEADER, None)
    if not _valid(found):
        # Only a task called without the transport (eagerly, or directly) gets here.
        log.warning("message carries no receipt", extra={"task_id": task_id})
        return Receipt(task_id, task_id, None)
    return Receipt(task_id, found["receipt"], found.get("seq"))
