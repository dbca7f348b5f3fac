"""A worker that stalls between taking an edit off the queue and processing it cannot be
overtaken by a later edit of the row that another worker takes (docs/worker.md,
"Ordering": the pop and the seq are one Redis script).

Deterministic: worker A reaches Redis through a proxy of its own that holds the reply
which took edit 1 off the queue (the queue is empty when it passes), and A is frozen
with SIGSTOP. Redis has removed edit 1; A has not seen it. Worker B then starts, takes
edit 2 and saves it. A resumes with edit 1 in hand: it must not overwrite edit 2.
With a seq drawn after ``BRPOP`` (the transport before this change) A draws its seq
after B's and saves edit 1 over edit 2: this test fails.
"""

from __future__ import annotations

import signal

import pytest

from tests.reliability.harness import Stack, record, wait_for
from tests.reliability.test_worker_kill import essay, push_edit, saved_content
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.services, pytest.mark.timeout(150)]


def finished(stack: Stack, file_id: str, log_index: int) -> bool:
    log = stack.logs[log_index].read_text(errors="replace")
    return f"NLP_edit_OCR[{file_id}] succeeded" in log


def test_a_worker_stalled_after_taking_an_edit_is_not_overtaken(stack: Stack) -> None:
    stack.env.llm.state.latency_s = 0.0
    redis = stack.env.redis
    target = redis.connection_pool.connection_kwargs
    file_id = stack.env.add_row("OCR", "SUCCESS", {"content": "old"})
    marker = f"stall-{file_id[:8]}"
    first, second = essay(1, marker), essay(2, marker)
    with (
        TcpProxy(target["host"], int(target["port"])) as to_a,
        stack.worker(concurrency=2, REDIS_PORT=str(to_a.port)) as a,
    ):
        a_log = len(stack.logs) - 1
        # The reply that carries edit 1 once edit 1 is no longer in Redis's queue:
        # the take itself (a wake-up that leaves the item in the queue passes).
        to_a.hold_reply(lambda data: file_id.encode() in data and redis.llen("celery") == 0)
        push_edit(stack, file_id, first)
        assert to_a.held.wait(30), "worker A never took edit 1"
        a.send_signal(signal.SIGSTOP)
        try:
            to_a.release()  # the reply now sits in A's socket; A is frozen
            assert redis.llen("celery") == 0
            assert redis.hlen("unacked") == 0
            with stack.worker(concurrency=2) as b:
                push_edit(stack, file_id, second)
                assert saved_content(stack, file_id, 30) == second
                wait_for(lambda: finished(stack, file_id, len(stack.logs) - 1), 10, b)
                a.send_signal(signal.SIGCONT)
                wait_for(lambda: finished(stack, file_id, a_log), 30, a)
        finally:
            if a.poll() is None:
                a.send_signal(signal.SIGCONT)
        a_text = stack.logs[a_log].read_text(errors="replace")
        _, result = stack.env.row(file_id)
        assert result is not None
        # Edit 1 was taken first, so it has the lower seq: A found edit 2's save.
        assert result["content"] == second, "the stalled worker overwrote a later edit"
        assert "'status': 'skipped: superseded'" in a_text
        wait_for(lambda: redis.llen("celery") + redis.hlen("unacked") == 0, 20, a)
    # Found superseded before it started: edit 1 cost no LLM call, edit 2 one.
    assert stack.calls_for(first.splitlines()[0]) == 0
    assert stack.calls_for(second.splitlines()[0]) == 1
    record(
        "worker frozen after taking edit 1, another saves edit 2",
        happened="edit 1 had the lower seq; the frozen worker resumed, found edit 2 saved "
        "and wrote nothing; the row kept edit 2",
        recover_s=0,
        lost=0,
        duplicates=0,
    )
