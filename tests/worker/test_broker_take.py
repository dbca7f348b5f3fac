"""The transport's take (worker.broker): the pop and the seq in one Redis script, on real
Redis, through kombu consumers in this process. Each test has a key prefix of its own
(kombu's ``global_keyprefix``) in a Redis database of this area."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue

import worker.broker
from demo.go_backend import build_message
from worker.broker import GuardedChannel
from worker.receipt import HEADER

DB = 10
TASK_QUEUE = Queue("celery", Exchange("celery", type="direct"), routing_key="celery")


@pytest.fixture
def prefix() -> str:
    return f"test-take-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def client(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    found = redis.Redis.from_url(f"{redis_url.rsplit('/', 1)[0]}/{DB}")
    yield found
    keys = list(found.scan_iter(f"{prefix}*"))
    if keys:
        found.delete(*keys)


def connect(client: redis.Redis, prefix: str) -> Connection:
    kwargs = client.connection_pool.connection_kwargs
    return Connection(
        f"redis://{kwargs['host']}:{kwargs['port']}/{DB}",
        transport="worker.broker:GuardedTransport",
        transport_options={"global_keyprefix": prefix},
    )


def push(client: redis.Redis, prefix: str, row: str, content: str, queue: str = "celery") -> None:
    kwargs = {"id": row, "content": content, "prompt": ""}
    client.lpush(prefix + queue, build_message("tasks.NLP_edit_OCR", kwargs, row))


def take(conn: Connection, count: int, ack: bool = True, timeout: float = 10) -> list[Any]:
    got: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        got.append((body[1]["content"], message.headers[HEADER], message.delivery_tag))
        if ack:
            message.ack()

    with conn.Consumer(TASK_QUEUE, callbacks=[on_message], accept=["json"]):
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                conn.drain_events(timeout=0.2)
    return got


def test_consumers_at_once_get_seqs_in_queue_order(client: redis.Redis, prefix: str) -> None:
    row, count = str(uuid.uuid4()), 120
    for n in range(count):
        push(client, prefix, row, f"edit {n:03d}")
    taken: list[Any] = []
    lock = threading.Lock()

    def consumer() -> None:
        with connect(client, prefix) as conn:
            got = take(conn, count, timeout=3)
        with lock:
            taken.extend(got)

    threads = [threading.Thread(target=consumer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(content for content, _, _ in taken) == [f"edit {n:03d}" for n in range(count)]
    by_push = [stamp["seq"] for _, stamp, _ in sorted(taken, key=lambda t: t[0])]
    assert by_push == sorted(by_push)
    assert len(set(by_push)) == count
    assert len({tag for _, _, tag in taken}) == count  # one delivery tag per message


def test_a_restored_message_keeps_its_receipt_and_seq(client: redis.Redis, prefix: str) -> None:
    row = str(uuid.uuid4())
    push(client, prefix, row, "edit 1")
    with connect(client, prefix) as conn:
        [(_, first, _)] = take(conn, 1, ack=False)
    # Closed unacked: kombu put the stamped message back (warm shutdown, a lost worker).
    assert client.llen(prefix + "celery") == 1
    push(client, prefix, row, "edit 2")
    with connect(client, prefix) as conn:
        got = take(conn, 2)
    assert [content for content, _, _ in got] == ["edit 1", "edit 2"]
    assert got[0][1] == first
    assert got[0][1]["seq"] < got[1][1]["seq"]
    assert client.hlen(prefix + "unacked") == 0


def test_closing_with_a_wake_up_pending_takes_nothing(client: redis.Redis, prefix: str) -> None:
    row = str(uuid.uuid4())
    conn = connect(client, prefix)
    with conn.Consumer(TASK_QUEUE, callbacks=[lambda *_: None], accept=["json"]):
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.2)  # the wake-up (BLMOVE) is now waiting
        push(client, prefix, row, "pushed during shutdown")
        time.sleep(0.1)
    conn.close()  # kombu reads the pending reply as it closes
    assert client.llen(prefix + "celery") == 1
    assert client.hlen(prefix + "unacked") == 0


def test_bad_items_are_dropped_and_other_priorities_are_taken(
    client: redis.Redis, prefix: str
) -> None:
    row = str(uuid.uuid4())
    client.lpush(prefix + "celery", b"not json", b'{"body": 1}')
    push(client, prefix, row, "good")
    push(client, prefix, row, "priority 3", queue="celery\x06\x163")
    with connect(client, prefix) as conn:
        got = take(conn, 2)
    assert [content for content, _, _ in got] == ["good", "priority 3"]
    assert client.llen(prefix + "celery") == 0


def test_without_blmove_the_seq_is_drawn_after_brpop(client: redis.Redis, prefix: str) -> None:
    row = str(uuid.uuid4())
    push(client, prefix, row, "edit 1")
    with connect(client, prefix) as conn:
        channel = conn.default_channel
        assert isinstance(channel, GuardedChannel)
        channel._blmove = False  # what the probe finds on Redis < 6.2
        [(content, stamp, tag)] = take(conn, 1)
    assert content == "edit 1"
    assert isinstance(stamp["seq"], int)
    assert tag == stamp["receipt"]


def test_a_refused_script_takes_the_message_without_a_seq(
    client: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = str(uuid.uuid4())
    seq_key = f"{prefix}seq-of-the-wrong-type"
    client.hset(seq_key, "x", "1")  # GET in the script fails before anything is taken
    monkeypatch.setattr(worker.broker, "SEQ_KEY", seq_key)
    push(client, prefix, row, "edit 1")
    with connect(client, prefix) as conn:
        [(content, stamp, _)] = take(conn, 1)
    assert content == "edit 1"
    assert stamp["seq"] is None  # delivered, not ordered (docs/worker.md)
    assert client.llen(prefix + "celery") == 0
