"""One row, many messages under one task id: the first mission and its edits, pushed the
way the Go backend pushes them (contract.md section 1, "The task id is the row id").

Every message here is built by ``demo.go_backend.build_message`` with the row id as task
id, root id, correlation id, reply-to and delivery tag, Go's JSON (raw UTF-8 Chinese,
``\\u003c`` ``\\u003e`` ``\\u0026``), and LPUSHed raw onto ``celery`` of a real worker
process; results are read from MariaDB.
"""

from __future__ import annotations

import ast
import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from demo.go_backend import build_message
from tests.worker.conftest import WorkerEnv
from worker.receipt import HEADER, NEXT_SEQ, SEQ_KEY, stamp
from worker.store import files
from worker.tasks import COMPUTED, DELIVERIES

# The issue is about the backend's MySQL; one worker on MariaDB keeps the module short.
pytestmark = pytest.mark.parametrize("worker_env", ["mariadb"], indirect=True)

OLD = {"prompt": "p", "content": "old", "summarize": "old", "details": ["old"]}


def wait_until(check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def essay(n: int | str, marker: str) -> str:
    return f"Edit {n} <{marker}> & 我的夢想 {n}\n    I want to teach & help, 1 < 2 > 0.\n\n段落二。"


def back_to_pending(env: WorkerEnv, file_id: str) -> None:
    """What the backend does before it pushes an edit: status PENDING, old result kept."""
    with env.engine.begin() as conn:
        conn.execute(files.update().where(files.c.id == file_id).values(status="PENDING"))


def push_as_backend(env: WorkerEnv, task: str, kwargs: dict[str, Any]) -> bytes:
    """LPUSHes the message the backend builds for a row task; returns its bytes."""
    file_id = kwargs["id"]
    raw = build_message(f"tasks.{task}", kwargs, task_id=file_id)
    message = json.loads(raw)
    headers, props = message["headers"], message["properties"]
    ids = {headers["id"], headers["root_id"], props["correlation_id"]}
    assert ids | {props["reply_to"], props["delivery_tag"]} == {file_id}
    body = base64.b64decode(message["body"])
    if "<" in kwargs.get("content", ""):
        assert b"\\u003c" in body
        assert b"\\u003e" in body
        assert b"\\u0026" in body
        assert b"<" not in body
    if "夢" in kwargs.get("content", ""):
        assert "夢".encode() in body  # raw UTF-8, not \\u escapes
    env.redis.lpush("celery", raw)
    return raw


def settled(env: WorkerEnv, file_id: str, timeout: float = 40.0) -> tuple[str, dict[str, Any]]:
    wait_until(lambda: env.row(file_id)[0] != "PENDING", timeout)
    status, result = env.row(file_id)
    assert result is not None
    return status, result


def outcomes(env: WorkerEnv, file_id: str, count: int) -> list[dict[str, Any]]:
    """What each message of the row returned, in the order they ended, from the worker's
    log: the result backend cannot say (one key per task id, and Celery never replaces a
    SUCCESS there, so a superseded edit's outcome is not stored over the winner's)."""

    def ended() -> list[dict[str, Any]]:
        found = []
        for line in env.log_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            data = record.get("data") or {}
            if record.get("logger") != "celery.app.trace" or data.get("id") != file_id:
                continue
            assert "raised" not in str(data.get("description")), record["msg"]
            if "return_value" in data:  # not a retry line
                found.append(ast.literal_eval(data["return_value"]))
        return found

    wait_until(lambda: len(ended()) >= count)
    found = ended()
    assert len(found) == count, found
    return found


def final_meta(env: WorkerEnv, file_id: str, check: Callable[[dict[str, Any]], bool]) -> Any:
    def found() -> dict[str, Any] | None:
        raw = env.redis.get(f"celery-task-meta-{file_id}")
        meta = json.loads(raw) if raw else {}
        if meta.get("status") in ("SUCCESS", "FAILURE") and check(meta):
            return meta
        return None

    return wait_until(found)


def edit_kwargs(env: WorkerEnv, file_id: str, content: str) -> dict[str, Any]:
    return {"id": file_id, "content": content, "prompt": "我的夢想 <Title>", **env.credentials()}


def test_first_mission_then_five_edits_each_saved(worker_env: WorkerEnv) -> None:
    env = worker_env
    file_id = env.add_row("OCR")
    tag = file_id[:8]
    push_as_backend(env, "OCR_predict_Text", edit_kwargs(env, file_id, essay("first", tag)))
    status, first = settled(env, file_id)
    assert (status, first["content"]) == ("SUCCESS", essay("first", tag))
    saved = [first]
    for n in range(1, 6):
        back_to_pending(env, file_id)
        push_as_backend(env, "NLP_edit_OCR", edit_kwargs(env, file_id, essay(n, tag)))
        status, result = settled(env, file_id)
        assert status == "SUCCESS", result.get("error")
        assert result["content"] == essay(n, tag)
        assert result["prompt"] == "我的夢想 <Title>"
        saved.append(result)
    assert all(r["task"] == file_id for r in saved)
    assert len({r["message"] for r in saved}) == 6  # six messages, one task id
    seqs = [r["seq"] for r in saved]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 6
    # The result backend follows each new message, not only the first one.
    meta = final_meta(env, file_id, lambda m: m["result"]["message"] == saved[-1]["message"])
    assert meta["result"]["status"] == "SUCCESS"
    ended = outcomes(env, file_id, 6)
    assert [o["status"] for o in ended] == ["SUCCESS"] * 6
    assert [o["message"] for o in ended] == [r["message"] for r in saved]
    assert "stopped its worker" not in env.log_text()
    # Each message was counted once, under its own receipt.
    for r in saved:
        assert env.redis.get(f"{DELIVERIES}{r['message']}:0") == b"1"


@pytest.mark.parametrize("slow", ["first", "second"])
def test_two_edits_back_to_back_the_later_push_wins(worker_env: WorkerEnv, slow: str) -> None:
    env = worker_env
    file_id = env.add_row("OCR", "SUCCESS", OLD)
    one, two = essay(1, f"a-{file_id[:8]}"), essay(2, f"b-{file_id[:8]}")
    env.llm.slow_when(f"a-{file_id[:8]}" if slow == "first" else f"b-{file_id[:8]}", 3.0)
    try:
        back_to_pending(env, file_id)
        push_as_backend(env, "NLP_edit_OCR", edit_kwargs(env, file_id, one))
        back_to_pending(env, file_id)
        push_as_backend(env, "NLP_edit_OCR", edit_kwargs(env, file_id, two))
        first, last = outcomes(env, file_id, 2)
    finally:
        env.llm.reset()
    status, result = env.row(file_id)
    assert status == "SUCCESS"
    assert result is not None
    assert result["content"] == two
    if slow == "first":
        # The second edit was saved first; the first one finished last, computed its
        # answer, found the newer save and left it.
        assert (first["status"], last["status"]) == ("SUCCESS", "skipped: superseded")
        assert first["message"] == result["message"]
        assert last["seq"] < result["seq"]
    else:
        assert (first["status"], last["status"]) == ("SUCCESS", "SUCCESS")
        assert first["seq"] < last["seq"] == result["seq"]
    assert env.redis.llen("celery") == 0


def test_an_edit_being_retried_does_not_overwrite_a_later_one(worker_env: WorkerEnv) -> None:
    env = worker_env
    file_id = env.add_row("OCR", "SUCCESS", OLD)
    marker = f"r-{file_id[:8]}"
    one, two = essay(1, marker), essay(2, f"s-{file_id[:8]}")
    env.llm.slow_when(marker, 2.0)
    # The first edit's first try: both calls (the SDK retries once) get 503, and Celery
    # retries the mission.
    env.llm.fail_next(503, times=2, retry_after=0.01)
    try:
        retried_before = set(env.redis.scan_iter(f"{DELIVERIES}*:1"))
        back_to_pending(env, file_id)
        push_as_backend(env, "NLP_edit_OCR", edit_kwargs(env, file_id, one))
        # The retry has started (its try is counted) and waits on its slow LLM call:
        # without this the second edit could be saved before the retry starts, and the
        # retry would be skipped before it is counted.
        wait_until(lambda: bool(set(env.redis.scan_iter(f"{DELIVERIES}*:1")) - retried_before))
        back_to_pending(env, file_id)
        push_as_backend(env, "NLP_edit_OCR", edit_kwargs(env, file_id, two))
        second, first = outcomes(env, file_id, 2)
    finally:
        env.llm.reset()
    assert (second["status"], first["status"]) == ("SUCCESS", "skipped: superseded")
    status, result = env.row(file_id)
    assert status == "SUCCESS"
    assert result is not None
    assert result["content"] == two
    assert result["message"] == second["message"]
    # The retry carried its message's receipt and seq: counted as try 1 of that message.
    assert env.redis.get(f"{DELIVERIES}{first['message']}:0") == b"1"
    assert env.redis.get(f"{DELIVERIES}{first['message']}:1") == b"1"
    assert first["seq"] < second["seq"]


def test_edit_pushed_while_the_first_asr_mission_transcribes(worker_env: WorkerEnv) -> None:
    env = worker_env
    file_id = env.add_row("ASR")
    path = env.media("ASR", b"ID3 slow lecture", ".mp3")
    env.stub.state.latency_s = 3.0
    try:
        kwargs = {"id": file_id, "file": path, "prompt": "訊號 & 系統", **env.credentials()}
        push_as_backend(env, "ASR_predict", kwargs)
        name = path.rsplit("/", 1)[1]
        wait_until(lambda: any(u.filename == name for u in env.stub.state.uploads))
        edited = f"學生修改的逐字稿 <{file_id[:8]}>：傅立葉 & 拉普拉斯，1 < 2。"
        back_to_pending(env, file_id)
        push_as_backend(
            env, "NLP_edit_ASR", {**edit_kwargs(env, file_id, edited), "prompt": "訊號 & 系統"}
        )
        edit, asr = outcomes(env, file_id, 2)
    finally:
        env.stub.state.latency_s = 0.0
    # The transcription ended after the edit was saved: the edit's text stays.
    assert (edit["status"], asr["status"]) == ("SUCCESS", "skipped: superseded")
    status, result = env.row(file_id)
    assert status == "SUCCESS"
    assert result is not None
    assert result["content"] == edited
    assert asr["seq"] < edit["seq"] == result["seq"]


def _stamped(env: WorkerEnv, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The message as kombu's unacked hash holds it once the worker took it: stamped."""
    message: dict[str, Any] = json.loads(build_message("tasks.NLP_edit_OCR", kwargs, kwargs["id"]))
    stamp(message, lambda: int(env.redis.eval(NEXT_SEQ, 1, SEQ_KEY)))
    return message


def test_redelivery_reuses_its_result_and_a_new_message_is_new_work(worker_env: WorkerEnv) -> None:
    env = worker_env
    file_id = env.add_row("OCR", "SUCCESS", OLD)
    content = essay("same", file_id[:8])
    kwargs = edit_kwargs(env, file_id, content)
    message = _stamped(env, kwargs)
    receipt = message["headers"][HEADER]["receipt"]
    # Its first delivery computed the result, then its worker died before the save.
    computed: dict[str, Any] = {**OLD, "content": content, "summarize": "kept", "details": ["kept"]}
    computed["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "calls": 1}
    env.redis.set(f"{COMPUTED}{receipt}", json.dumps(computed))
    env.redis.set(f"{DELIVERIES}{receipt}:0", 1)
    back_to_pending(env, file_id)
    calls = len(env.llm.calls())
    env.redis.lpush("celery", json.dumps(message))  # what a restore puts back
    status, result = settled(env, file_id)
    assert (status, result["summarize"], result["message"]) == ("SUCCESS", "kept", receipt)
    assert env.redis.get(f"{DELIVERIES}{receipt}:0") == b"2"  # counted as a redelivery
    assert len(env.llm.calls()) == calls
    # Delivered once more after the save (died before the ack): nothing is written again.
    with env.engine.connect() as conn:
        before = conn.execute(sa.select(files.c.result).where(files.c.id == file_id)).scalar()
    env.redis.lpush("celery", json.dumps(message))
    assert outcomes(env, file_id, 2)[1]["status"] == "skipped: done"
    assert env.row(file_id) == ("SUCCESS", before)
    # A new message with the same id and the very same body is new work.
    back_to_pending(env, file_id)
    push_as_backend(env, "NLP_edit_OCR", kwargs)
    status, result = settled(env, file_id)
    assert status == "SUCCESS"
    assert result["message"] != receipt
    assert result["content"] == content
    assert result["summarize"] != "kept"
    assert len(env.llm.calls()) == calls + 1
    assert outcomes(env, file_id, 3)[2]["status"] == "SUCCESS"


def test_many_edits_in_a_short_time_all_run_and_the_last_push_wins(
    worker_env: WorkerEnv,
) -> None:
    env = worker_env
    file_id = env.add_row("OCR", "SUCCESS", OLD)
    marker = f"m-{uuid.uuid4().hex[:8]}"
    count = 12  # four times TASK_MAX_DELIVERIES, all within seconds
    env.llm.state.latency_s = 0.05
    env.llm.state.latency_jitter_s = 0.4  # eight threads finish them out of order
    try:
        for n in range(count):
            back_to_pending(env, file_id)
            push_as_backend(env, "NLP_edit_OCR", edit_kwargs(env, file_id, essay(n, marker)))
        wait_until(lambda: sum(marker in c.last_user for c in env.llm.calls()) == count)
        wait_until(lambda: env.redis.llen("celery") == 0 and env.redis.hlen("unacked") == 0)
    finally:
        env.llm.state.latency_s = env.llm.state.latency_jitter_s = 0.0
    status, result = settled(env, file_id)
    assert status == "SUCCESS"
    assert result["content"] == essay(count - 1, marker)
    assert "stopped its worker" not in env.log_text()
    ended = outcomes(env, file_id, count)  # none failed
    assert {o["status"] for o in ended} <= {"SUCCESS", "skipped: superseded"}
    assert max(ended, key=lambda o: o["seq"])["message"] == result["message"]
    assert all(env.redis.get(f"{DELIVERIES}{o['message']}:0") == b"1" for o in ended)


def test_remote_control_reaches_the_worker_through_the_transport(worker_env: WorkerEnv) -> None:
    """Pidbox (fanout) and the reply queue (BRPOP on a queue other than ``celery``) are
    kombu's, untouched by the take: ``celery inspect ping`` still answers."""
    from celery import Celery

    kwargs = worker_env.redis.connection_pool.connection_kwargs
    url = f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"
    client = Celery("control-test", broker=url)
    client.conf.broker_transport = "worker.broker:GuardedTransport"
    replies: list[Any] = []
    try:
        deadline = time.monotonic() + 20
        while not replies and time.monotonic() < deadline:
            # A broadcast is pub/sub: lost if sent before the worker has subscribed.
            replies = client.control.ping(timeout=1)
    finally:
        client.close()
    assert len(replies) == 1
    assert next(iter(replies[0].values())) == {"ok": "pong"}
