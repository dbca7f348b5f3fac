"""A mission's time limit holds on the thread pool, where Celery's own limit does nothing.

The worker here runs ``-P threads`` with ``TASK_TIME_LIMIT_S=10``: a mission whose LLM
answers too slowly ends FAILURE with a readable reason near the limit, long before the
visibility timeout could hand the message to a second worker, and the worker goes on.
"""

from __future__ import annotations

import time

import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.stub_inference import ESSAY
from tests.worker.conftest import WorkerEnv
from tests.worker.test_failures import expect_failure, failed_row, still_serving
from worker.deadline import Deadline
from worker.errors import PermanentError
from worker.llm import ChatSession, Credentials, Endpoints, build_routes

LIMIT_S = 10
WORKER_ENV = {
    "TASK_TIME_LIMIT_S": str(LIMIT_S),
    "VISIBILITY_TIMEOUT_S": "60",
    "OPENAI_MAX_RETRIES": "0",
}


def test_deadline_counts_down_and_refuses_once_past() -> None:
    deadline = Deadline.after(0.3)
    assert 0.0 < deadline.remaining_s() <= 0.3
    assert deadline.timeout_s(120.0, "x") == pytest.approx(1.0)  # never below a useful floor
    assert Deadline.after(100).timeout_s(5.0, "x") == 5.0
    deadline.check("still in time")
    time.sleep(0.35)
    with pytest.raises(PermanentError, match=r"time limit of 0.3 s \(asking\)"):
        deadline.check("asking")
    with pytest.raises(PermanentError, match="time limit"):
        deadline.timeout_s(120.0, "asking")


def test_llm_request_is_cut_to_the_time_left() -> None:
    with FakeLLM(latency_s=5.0) as llm:
        endpoints = Endpoints(llm.url, "gpt-test", None, None, 120.0, 0)
        routes = build_routes(Credentials("sk-test-key-000", None), endpoints)
        chat = ChatSession(
            routes,
            continue_prompt="繼續",
            max_continuations=0,
            concurrency=1,
            deadline=Deadline.after(1.5),
        )
        started = time.monotonic()
        with pytest.raises(PermanentError, match=r"time limit of 1\.5 s"):
            chat.complete([{"role": "user", "content": "hi"}], 50)
        assert time.monotonic() - started < 4.0  # not the 5 s reply, not the 120 s timeout


def test_mission_over_the_limit_fails_and_the_worker_goes_on(worker_env: WorkerEnv) -> None:
    worker_env.llm.state.latency_s = LIMIT_S + 5
    try:
        file_id = worker_env.add_row("OCR")
        kwargs = {"id": file_id, "content": ESSAY, "prompt": "", **worker_env.credentials()}
        started = time.monotonic()
        meta = expect_failure(
            worker_env, "OCR_predict_Text", kwargs, f"ran past its time limit of {LIMIT_S} s"
        )
        took = time.monotonic() - started
    finally:
        worker_env.llm.state.latency_s = 0.0
    assert LIMIT_S - 1 < took < LIMIT_S + 8, took
    # Not retried: a retry would only run out of time again.
    assert "retries" not in str(meta["result"]["exc_message"])
    failed_row(worker_env, file_id, "time limit")
    still_serving(worker_env)
