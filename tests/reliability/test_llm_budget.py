"""LLM faults that do not heal: retried within a bounded budget (1 SDK retry per attempt,
2 task retries), then FAILURE with a readable reason and no secret in it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.reliability.harness import Stack, final_status, record

pytestmark = [pytest.mark.services, pytest.mark.timeout(90)]

CALLS_BUDGET = (1 + 1) * (1 + 2)  # (first try + SDK retry) x (first run + task retries)
# A reply whose body stops halfway, then the connection closes.
CUT_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n"
    b'Connection: close\r\n\r\n{"id": "chatcmpl-1", "object": "chat.completion", "cho'
)


@pytest.fixture(scope="module")
def strict(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    with stack.worker(TASK_MAX_RETRIES="2", OPENAI_TIMEOUT_S="1") as proc:
        yield proc


def fails_with(stack: Stack, reason: str, label: str, happened: str) -> None:
    started = time.monotonic()
    file_id, _ = stack.text_mission()
    assert final_status(stack.env, file_id, 60) == "FAILURE"
    took = time.monotonic() - started
    _, result = stack.env.row(file_id)
    assert result is not None
    assert result["error"] == f"{reason} (gave up after 2 retries)"
    assert stack.writes(file_id) == ["FAILURE"]
    record(label, happened=happened, recover_s=round(took, 2), lost=0, duplicates=0)


@pytest.mark.parametrize("status", [429, 500])
def test_llm_error_status_for_good(
    stack: Stack, strict: subprocess.Popen[bytes], status: int
) -> None:
    stack.env.llm.fail_next(status, times=50, retry_after=0.2)
    fails_with(
        stack,
        f"LLM service is busy (HTTP {status})",
        f"LLM answers {status} for good",
        f"{CALLS_BUDGET} calls (SDK + task retries), then FAILURE with a readable reason",
    )
    assert len(stack.env.llm.calls()) == CALLS_BUDGET


def test_llm_timeouts(stack: Stack, strict: subprocess.Popen[bytes]) -> None:
    stack.env.llm.state.latency_s = 2.5  # OPENAI_TIMEOUT_S is 1
    fails_with(
        stack,
        "LLM service is unreachable or timed out",
        "LLM never answers within the timeout",
        "each call timed out after 1 s; bounded retries, then FAILURE",
    )
    assert len(stack.env.llm.calls()) <= CALLS_BUDGET


def test_llm_reply_cut_mid_body(stack: Stack, strict: subprocess.Popen[bytes]) -> None:
    stack.llm_proxy.reply(CUT_REPLY)
    fails_with(
        stack,
        "LLM service is unreachable or timed out",
        "LLM reply cut mid-body",
        "read as a transport error; bounded retries, then FAILURE",
    )
    assert stack.llm_proxy.stats.refused == CALLS_BUDGET
