"""Broker, database, inference and LLM faults that heal: every mission completes, each
row is written exactly once (audit trigger), nothing is lost."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.reliability.harness import Stack, final_status, record, wait_for
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

OUTAGE_S = 10.0
BUSY_503 = b'{"error": {"message": "model is not ready", "type": "model_not_ready"}}'
CANNED_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(BUSY_503)).encode() + b"\r\n\r\n" + BUSY_503
)


@pytest.fixture(scope="module")
def patient(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """One worker for the module, with a retry budget (about 20-40 s) that outlasts a
    10 s outage, and a mission time limit that does too: during a Redis outage a mission
    waits on its progress updates (the result backend retries them), and with the
    harness's 15 s limit it could run out of time before its LLM call."""
    limits = {"TASK_TIME_LIMIT_S": "40", "VISIBILITY_TIMEOUT_S": "45"}
    with stack.worker(concurrency=8, TASK_MAX_RETRIES="20", **limits) as proc:
        yield proc


def outage(
    stack: Stack,
    proxy: TcpProxy,
    start_fault: str,
    missions: list[tuple[str, str]],
    *,
    wait_busy: bool = True,
) -> tuple[float, list[str]]:
    """Starts ``start_fault`` on ``proxy`` for OUTAGE_S, heals; returns (recovery s, statuses)."""
    if wait_busy:
        wait_for(lambda: stack.env.llm.state.in_flight > 0 or bool(stack.env.llm.calls()), 30)
    if start_fault == "reply":
        proxy.reply(CANNED_503)
    else:
        getattr(proxy, start_fault)()
    time.sleep(OUTAGE_S)
    proxy.heal()
    healed = time.monotonic()
    statuses = [final_status(stack.env, file_id, 60) for file_id, _ in missions]
    return time.monotonic() - healed, statuses


def check_once(stack: Stack, missions: list[tuple[str, str]]) -> int:
    """Asserts every row was written exactly once; returns the duplicate count (0)."""
    writes = [stack.writes(file_id) for file_id, _ in missions]
    assert all(w == ["SUCCESS"] for w in writes), writes
    return sum(len(w) - 1 for w in writes)


# A cut resets the connections; a blackhole keeps them open with nothing answering (a dead
# peer, a firewall drop), and what it held is delivered after the heal.
REDIS_FAULTS = {
    "cut": (
        "Redis cut 10 s mid-run (30 missions)",
        "worker lost the broker, reconnected by itself; every mission completed",
    ),
    "blackhole": (
        "Redis silent (blackhole) 10 s mid-run (30 missions)",
        "the worker's Redis calls waited; once Redis answered again every mission completed",
    ),
}


@pytest.mark.parametrize("fault", list(REDIS_FAULTS))
def test_redis_fault_for_10s_mid_run(
    stack: Stack, patient: subprocess.Popen[bytes], fault: str
) -> None:
    stack.env.llm.state.latency_s = 0.3
    missions = [stack.text_mission() for _ in range(30)]
    recovered, statuses = outage(stack, stack.redis_proxy, fault, missions)
    assert statuses == ["SUCCESS"] * len(missions)
    assert patient.poll() is None
    name, happened = REDIS_FAULTS[fault]
    record(
        name,
        happened=happened,
        recover_s=round(recovered, 2),
        lost=statuses.count("PENDING") + statuses.count("FAILURE"),
        duplicates=check_once(stack, missions),
    )


MYSQL_FAULTS = {
    "cut": (
        "MySQL unreachable 10 s at save time",
        "the save failed, the task retried with backoff and saved the result it had "
        "computed (one LLM call per mission) once MySQL was back",
    ),
    "blackhole": (
        "MySQL silent (blackhole) 10 s at save time",
        "the save waited on its connection (read timeout 30 s) and went through once MySQL "
        "answered again (one LLM call per mission)",
    ),
}


@pytest.mark.parametrize("fault", list(MYSQL_FAULTS))
def test_mysql_unreachable_for_10s_at_save_time(
    stack: Stack, patient: subprocess.Popen[bytes], fault: str
) -> None:
    stack.env.llm.state.latency_s = 1.0
    missions = [stack.text_mission() for _ in range(3)]
    recovered, statuses = outage(stack, stack.db_proxy, fault, missions)
    assert statuses == ["SUCCESS"] * len(missions)
    # The result computed before the outage was saved: the LLM was asked once.
    assert [stack.calls_for(file_id) for file_id, _ in missions] == [1] * len(missions)
    name, happened = MYSQL_FAULTS[fault]
    record(
        name,
        happened=happened,
        recover_s=round(recovered, 2),
        lost=0,
        duplicates=check_once(stack, missions),
    )


@pytest.mark.parametrize(("fault", "label"), [("cut", "down"), ("reply", "answering 503")])
def test_inference_service_fault_for_10s(
    stack: Stack, patient: subprocess.Popen[bytes], fault: str, label: str
) -> None:
    proxy = stack.inference_proxy
    refused_before = proxy.stats.refused  # the proxy serves the whole module
    if fault == "reply":
        proxy.reply(CANNED_503)
    else:
        proxy.cut()
    started = time.monotonic()
    missions = [stack.audio_mission() for _ in range(3)]
    time.sleep(OUTAGE_S)
    proxy.heal()
    healed = time.monotonic()
    statuses = [final_status(stack.env, file_id, 60) for file_id, _ in missions]
    assert statuses == ["SUCCESS"] * 3
    assert proxy.stats.refused - refused_before >= 3  # the missions really hit the outage
    record(
        f"ASR service {label} for 10 s",
        happened="missions retried with exponential backoff and succeeded",
        recover_s=round(time.monotonic() - healed, 2),
        outage_s=round(healed - started, 1),
        lost=0,
        duplicates=check_once(stack, missions),
    )


def test_corrupt_media_4xx_fails_fast_without_retry(
    stack: Stack, patient: subprocess.Popen[bytes]
) -> None:
    before = len(stack.env.stub.state.uploads)
    started = time.monotonic()
    file_id, _ = stack.audio_mission(b"CORRUPT not audio", ".m4a")
    assert final_status(stack.env, file_id, 20) == "FAILURE"
    took = time.monotonic() - started
    _, result = stack.env.row(file_id)
    assert result is not None
    assert result["error"] == "ASR service: unsupported media type"
    assert len(stack.env.stub.state.uploads) - before == 1  # no retry
    assert took < 5
    record(
        "ASR answers 415 (corrupt media)",
        happened="FAILURE at once with the service's readable message, no retry",
        recover_s=round(took, 2),
        lost=0,
        duplicates=0,
    )


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, 0.5), (500, None), (503, 0.2)], ids=["429", "500", "503"]
)
def test_llm_transient_errors_are_retried_then_succeed(
    stack: Stack, patient: subprocess.Popen[bytes], status: int, retry_after: float | None
) -> None:
    stack.env.llm.fail_next(status, times=3, retry_after=retry_after)
    started = time.monotonic()
    missions = [stack.text_mission()]
    assert final_status(stack.env, missions[0][0], 60) == "SUCCESS"
    statuses = [c.status for c in stack.env.llm.calls()]
    assert statuses.count(status) == 3
    assert statuses[-1] == 200
    record(
        f"LLM answers {status} three times" + (" with Retry-After" if retry_after else ""),
        happened="SDK and task retries (Retry-After honoured), then SUCCESS",
        recover_s=round(time.monotonic() - started, 2),
        lost=0,
        duplicates=check_once(stack, missions),
    )


def test_llm_length_truncated_replies_are_continued(
    stack: Stack, patient: subprocess.Popen[bytes]
) -> None:
    stack.env.llm.truncate_next(2)
    marker = f"trunc-{time.monotonic_ns()}"
    missions = [stack.text_mission(marker)]
    assert final_status(stack.env, missions[0][0], 30) == "SUCCESS"
    # The first reply and one continuation were cut (finish_reason=length): three calls.
    assert len(stack.env.llm.calls()) == 3
    _, result = stack.env.row(missions[0][0])
    assert result is not None
    assert "## 分數" in result["summarize"]
    record(
        "LLM replies cut by length twice",
        happened="asked to continue (bounded by LLM_MAX_CONTINUATIONS), then SUCCESS",
        recover_s=0.0,
        lost=0,
        duplicates=check_once(stack, missions),
    )
