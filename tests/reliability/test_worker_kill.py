"""Workers killed mid-mission (SIGKILL of the pool child, of the whole worker), a poison
message that kills its worker every time, a warm shutdown (SIGTERM), and a row's edits
(one task id, many messages: contract.md section 1) through a kill and across workers."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.reliability.harness import Stack, final_status, pool_children, record, wait_for
from worker.store import files
from worker.tasks import DELIVERIES

pytestmark = [pytest.mark.services, pytest.mark.timeout(150)]

LLM_LATENCY_S = 1.5


def llm_busy(stack: Stack) -> bool:
    return stack.env.llm.state.in_flight > 0


def uploads_of(stack: Stack, file_name: str) -> int:
    return sum(u.filename == file_name for u in stack.env.stub.state.uploads)


def essay(n: int, marker: str) -> str:
    return f"Edit {n} <{marker}> & 我的夢想\n    I want to teach & help, 1 < 2."


def push_edit(stack: Stack, file_id: str, content: str, task: str = "NLP_edit_OCR") -> None:
    """As the backend does: the row back to PENDING (old result kept), then the message
    with the row id as task id, root id, correlation id, reply-to and delivery tag."""
    with stack.env.engine.begin() as conn:
        conn.execute(files.update().where(files.c.id == file_id).values(status="PENDING"))
    kwargs = {"id": file_id, "content": content, "prompt": "作文 <題目> & 夢想"}
    stack.env.push(task, {**kwargs, **stack.env.credentials()}, task_id=file_id)


def saved_content(stack: Stack, file_id: str, timeout: float) -> str:
    assert final_status(stack.env, file_id, timeout) == "SUCCESS"
    _, result = stack.env.row(file_id)
    assert result is not None
    return str(result["content"])


def ended(stack: Stack, line: str) -> int:
    """How many times ``line`` is in the logs of the stack's last two workers."""
    return sum(path.read_text(errors="replace").count(line) for path in stack.logs[-2:])


def test_pool_child_killed_mid_mission_is_redelivered(stack: Stack) -> None:
    stack.env.llm.state.latency_s = LLM_LATENCY_S
    with stack.worker(pool="prefork", concurrency=1) as proc:
        file_id, _ = stack.audio_mission()
        wait_for(lambda: llm_busy(stack), 30, proc)
        for child in pool_children(proc):
            child.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        assert final_status(stack.env, file_id, 60) == "SUCCESS"
        recovered = time.monotonic() - killed
    assert stack.writes(file_id) == ["SUCCESS"]
    record(
        "pool child SIGKILL mid ASR mission",
        happened="message requeued at once (reject_on_worker_lost), rerun by a new child",
        recover_s=round(recovered, 2),
        lost=0,
        duplicates=len(stack.writes(file_id)) - 1,
    )


def test_whole_worker_killed_mid_mission_is_redelivered(stack: Stack) -> None:
    stack.env.llm.state.latency_s = LLM_LATENCY_S
    with stack.worker() as proc:
        file_id, _ = stack.audio_mission()
        wait_for(lambda: llm_busy(stack), 30, proc)
        delivered = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    killed = time.monotonic()
    assert stack.env.row(file_id)[0] == "PENDING"
    assert stack.unacked() == 1  # kept by Redis, not lost
    # A replacement worker (k8s restarts the pod) restores messages older than the
    # visibility timeout when it starts.
    visibility = float(stack.worker_env["VISIBILITY_TIMEOUT_S"])
    time.sleep(max(0.0, delivered + visibility + 1 - time.monotonic()))
    with stack.worker():
        assert final_status(stack.env, file_id, 40) == "SUCCESS"
        recovered = time.monotonic() - killed
    assert stack.writes(file_id) == ["SUCCESS"]
    assert stack.unacked() == 0
    record(
        "whole worker SIGKILL mid ASR mission",
        happened="message stayed in Redis unacked; restored by the next worker after the "
        "visibility timeout",
        recover_s=round(recovered, 2),
        visibility_timeout_s=visibility,
        lost=0,
        duplicates=len(stack.writes(file_id)) - 1,
    )


def test_poison_message_ends_failure_after_bounded_deliveries(stack: Stack) -> None:
    stack.env.llm.state.latency_s = LLM_LATENCY_S
    stop = threading.Event()
    kills: list[float] = []

    def kill_on_each_delivery(file_name: str) -> None:
        # Stands in for media that crashes the process (OOM, a segfault in a decoder).
        seen = 0
        while not stop.is_set():
            now = uploads_of(stack, file_name)
            if now > seen:
                seen = now
                time.sleep(0.2)
                for child in pool_children(proc):
                    child.send_signal(signal.SIGKILL)
                kills.append(time.monotonic())
            time.sleep(0.02)

    with stack.worker(pool="prefork", concurrency=1) as proc:
        before = len(stack.env.stub.state.uploads)
        file_id, _ = stack.audio_mission(b"ID3 poison")
        started = time.monotonic()
        wait_for(lambda: len(stack.env.stub.state.uploads) > before, 30, proc)
        file_name = stack.env.stub.state.uploads[before].filename
        killer = threading.Thread(target=kill_on_each_delivery, args=(file_name,))
        killer.start()
        try:
            assert final_status(stack.env, file_id, 90) == "FAILURE"
        finally:
            stop.set()
            killer.join()
        took = time.monotonic() - started
        _, result = stack.env.row(file_id)
        assert result is not None
        assert result["error"] == "the mission stopped its worker 3 times and was dropped"
        assert uploads_of(stack, file_name) == 3
        # The worker keeps serving.
        other, _ = stack.text_mission()
        assert final_status(stack.env, other, 30) == "SUCCESS"
    assert stack.writes(file_id) == ["FAILURE"]
    record(
        "poison message kills its worker every time",
        happened="3 deliveries (TASK_MAX_DELIVERIES), then FAILURE with a readable error; "
        "the worker keeps serving",
        recover_s=round(took, 2),
        deliveries=uploads_of(stack, file_name),
        lost=0,
        duplicates=0,
    )


def test_warm_shutdown_finishes_the_mission_and_exits(stack: Stack) -> None:
    stack.env.llm.state.latency_s = LLM_LATENCY_S
    with stack.worker() as proc:
        marker = f"warm-{time.monotonic_ns()}"
        file_id, _ = stack.text_mission(marker)
        wait_for(lambda: llm_busy(stack), 30, proc)
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        exited = time.monotonic() - asked
    assert stack.env.row(file_id)[0] == "SUCCESS"
    assert stack.writes(file_id) == ["SUCCESS"]
    # Acked before exit: nothing is left for Redis to redeliver.
    assert stack.unacked() == 0
    assert stack.env.redis.llen("celery") == 0
    assert stack.calls_for(marker) == 1
    record(
        "SIGTERM (warm shutdown) mid mission",
        happened="the running mission finished and was acked, then the worker exited 0",
        recover_s=round(exited, 2),
        lost=0,
        duplicates=0,
    )


def test_worker_killed_mid_edit_reruns_it_once_and_the_next_edit_succeeds(stack: Stack) -> None:
    with stack.worker(pool="prefork", concurrency=1) as proc:
        file_id = stack.env.add_row("OCR")
        marker = f"kill-{file_id[:8]}"
        kwargs = {"id": file_id, "content": essay(0, marker), "prompt": ""}
        stack.env.push("OCR_predict_Text", {**kwargs, **stack.env.credentials()}, file_id)
        assert saved_content(stack, file_id, 30) == essay(0, marker)
        stack.env.llm.state.latency_s = LLM_LATENCY_S
        push_edit(stack, file_id, essay(1, marker))
        wait_for(lambda: llm_busy(stack), 30, proc)
        for child in pool_children(proc):
            child.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        assert saved_content(stack, file_id, 60) == essay(1, marker)
        recovered = time.monotonic() - killed
        _, result = stack.env.row(file_id)
        assert result is not None
        # The same message came back (same receipt), counted as its second delivery.
        assert stack.env.redis.get(f"{DELIVERIES}{result['message']}:0") == b"2"
        assert stack.calls_for(essay(1, marker).splitlines()[0]) == 2  # killed, then rerun
        stack.env.llm.state.latency_s = 0.0
        push_edit(stack, file_id, essay(2, marker))
        assert saved_content(stack, file_id, 30) == essay(2, marker)
    # The edit was saved once; the PENDING lines are the backend's own updates.
    assert stack.writes(file_id) == ["SUCCESS", "PENDING", "SUCCESS", "PENDING", "SUCCESS"]
    record(
        "pool child SIGKILL mid edit (task id = row id)",
        happened="the same message (its receipt) redelivered, rerun once, saved once; "
        "the row's next edit succeeded",
        recover_s=round(recovered, 2),
        lost=0,
        duplicates=0,
    )


def test_edits_of_one_row_across_two_workers_the_last_push_wins(stack: Stack) -> None:
    stack.env.llm.state.latency_s = 0.05
    stack.env.llm.state.latency_jitter_s = 0.5  # they finish out of order
    count = 10
    with stack.worker(concurrency=2) as one, stack.worker(concurrency=2) as two:
        file_id = stack.env.add_row("OCR", "SUCCESS", {"content": "old"})
        marker = f"two-{file_id[:8]}"
        for n in range(count):
            push_edit(stack, file_id, essay(n, marker))
            time.sleep(0.1)  # a student saving ten times a second (docs/worker.md: limits)
        # Every message ends once: it ran (one LLM call), or found a later edit already
        # saved before it started and was skipped unrun (docs/worker.md, "Ordering").
        wait_for(lambda: ended(stack, f"NLP_edit_OCR[{file_id}] succeeded") == count, 60, one)
        wait_for(lambda: stack.env.redis.llen("celery") + stack.unacked() == 0, 30, two)
        assert saved_content(stack, file_id, 10) == essay(count - 1, marker)
    unrun = sum(
        '"nothing to do"' in line and file_id in line and '"superseded"' in line
        for path in stack.logs[-2:]
        for line in path.read_text(errors="replace").splitlines()
    )
    assert stack.calls_for(marker) + unrun == count
    writes = stack.writes(file_id)
    assert "FAILURE" not in writes
    assert 1 <= writes.count("SUCCESS") <= count
    logs = [path.read_text(errors="replace") for path in stack.logs[-2:]]
    assert all(f"NLP_edit_OCR[{file_id}] succeeded" in log for log in logs)  # both took some
    assert not any("stopped its worker" in log for log in logs)
    record(
        "10 edits of one row over 1 s, two workers",
        happened="every edit ended once (ran, or skipped unrun once a later one was "
        "saved); the row ended with the last one pushed",
        recover_s=0,
        lost=0,
        duplicates=0,
    )
