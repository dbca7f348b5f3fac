"""Workers killed mid-mission (SIGKILL of the pool child, of the whole worker), a poison
message that kills its worker every time, and a warm shutdown (SIGTERM)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.reliability.harness import Stack, final_status, pool_children, record, wait_for

pytestmark = [pytest.mark.services, pytest.mark.timeout(150)]

LLM_LATENCY_S = 1.5


def llm_busy(stack: Stack) -> bool:
    return stack.env.llm.state.in_flight > 0


def uploads_of(stack: Stack, file_name: str) -> int:
    return sum(u.filename == file_name for u in stack.env.stub.state.uploads)


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
