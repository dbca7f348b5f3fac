"""The receipt the transport stamps on each task message (worker.receipt), on real Redis."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import redis

from demo.go_backend import build_message
from worker.receipt import HEADER, NEXT_SEQ, Receipt, receipt_of, stamp


def go_message(row_id: str) -> dict:
    kwargs = {"id": row_id, "content": "作文 <x> & y", "prompt": ""}
    message: dict = json.loads(build_message("tasks.NLP_edit_OCR", kwargs, task_id=row_id))
    return message


def test_a_new_message_gets_a_receipt_a_seq_and_its_own_delivery_tag() -> None:
    row_id = str(uuid.uuid4())
    one, two = go_message(row_id), go_message(row_id)
    seqs = iter([7, 8])
    stamp(one, lambda: next(seqs))
    stamp(two, lambda: next(seqs))
    assert one["headers"][HEADER]["seq"] == 7
    assert two["headers"][HEADER]["seq"] == 8
    tags = {one["properties"]["delivery_tag"], two["properties"]["delivery_tag"]}
    assert len(tags) == 2
    assert row_id not in tags  # the backend's tag (the row id) would be shared
    assert one["headers"]["id"] == two["headers"]["id"] == row_id


def test_a_redelivered_or_retried_message_keeps_its_stamp() -> None:
    message = go_message(str(uuid.uuid4()))
    stamp(message, lambda: 1)
    kept = json.loads(json.dumps(message))  # what kombu's unacked hash holds
    kept["properties"]["delivery_tag"] = "fresh-tag-of-a-retry"
    stamp(kept, lambda: 99)
    assert kept["headers"][HEADER] == message["headers"][HEADER]
    assert kept["properties"]["delivery_tag"] == "fresh-tag-of-a-retry"


def test_a_malformed_stamp_is_replaced() -> None:
    message = go_message(str(uuid.uuid4()))
    message["headers"][HEADER] = {"receipt": "../../x", "seq": "9"}
    stamp(message, lambda: 3)
    assert message["headers"][HEADER]["seq"] == 3
    assert len(message["headers"][HEADER]["receipt"]) == 32


def test_a_stamp_with_a_seq_never_drawn_is_replaced() -> None:
    message = go_message(str(uuid.uuid4()))
    message["headers"][HEADER] = {"receipt": "b" * 32, "seq": 10**18}  # forged, far ahead
    stamp(message, lambda: 41, lambda: 40)
    assert message["headers"][HEADER]["seq"] == 41
    assert message["headers"][HEADER]["receipt"] != "b" * 32
    genuine = go_message(str(uuid.uuid4()))
    genuine["headers"][HEADER] = {"receipt": "c" * 32, "seq": 39}
    stamp(genuine, lambda: 42, lambda: 40)
    assert genuine["headers"][HEADER] == {"receipt": "c" * 32, "seq": 39}


def test_receipt_of_a_request() -> None:
    stamped = SimpleNamespace(id="row", **{HEADER: {"receipt": "a" * 32, "seq": 5}})
    assert receipt_of(stamped) == Receipt("row", "a" * 32, 5)
    # Without the transport (called directly) the task id is all there is.
    assert receipt_of(SimpleNamespace(id="row")) == Receipt("row", "row", None)


def test_seq_increases_and_survives_a_lost_key(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"test:receipt-seq:{uuid.uuid4()}"
    try:
        drawn = [int(client.eval(NEXT_SEQ, 1, key)) for _ in range(200)]
        assert drawn == sorted(drawn)
        assert len(set(drawn)) == len(drawn)
        client.delete(key)  # Redis flushed, or restored without the key
        assert int(client.eval(NEXT_SEQ, 1, key)) > drawn[-1]
    finally:
        client.delete(key)
