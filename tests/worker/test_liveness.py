"""The worker's liveness sees the consumer, and its readiness the broker.

The worker reaches Redis through a fault proxy that runs in a process of its own, so the
test can freeze it with SIGSTOP: the consumer's BRPOP never gets its reply, as on a hung
broker connection. ``/livez`` must fail within ``LIVENESS_WINDOW_S`` while ``/metrics``,
served from its own thread, still answers; after SIGCONT the consumer goes on by itself
and ``/livez`` passes again. A worker whose every slot is busy with a long mission sends
no BRPOP at all, and must stay live; so must one whose warm shutdown waits for a mission.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.mission_worker import MissionWorker, mission_worker
from tests.support.services import REPO, require_service

REDIS_DB = 10  # this module's own database (tests/conftest.py lists the others)
WINDOW_S = 8.0
LLM_LATENCY_S = 2.5 * WINDOW_S  # one LLM call outlasts the window by far
PROXY = """
import sys, time
from tests.support.tcp_proxy import TcpProxy
proxy = TcpProxy("127.0.0.1", 6379).start()
print(proxy.port, flush=True)
while True:
    time.sleep(3600)
"""


@pytest.fixture(scope="module")
def proxy() -> Iterator[subprocess.Popen[str]]:
    require_service("Redis", "127.0.0.1", 6379)
    proc = subprocess.Popen(
        [sys.executable, "-c", PROXY], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.port = int(proc.stdout.readline())  # type: ignore[attr-defined]
    yield proc
    os.kill(proc.pid, signal.SIGCONT)
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def worker(
    proxy: subprocess.Popen[str], llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MissionWorker]:
    base: Path = tmp_path_factory.mktemp("liveness")
    env = {"LIVENESS_WINDOW_S": str(WINDOW_S), "OPENAI_TIMEOUT_S": str(4 * LLM_LATENCY_S)}
    with mission_worker(
        base,
        REDIS_DB,
        llm,
        redis_port=proxy.port,
        concurrency=1,
        **env,  # type: ignore[attr-defined]
    ) as running:
        yield running


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.25) -> float:
    """Seconds until ``condition`` held; TimeoutError after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not within {timeout}s")
        time.sleep(step)
    return time.monotonic() - start


def consumes(worker: MissionWorker, timeout: float = 60.0) -> None:
    """A queue item is taken off the list (a junk one: dropped once read)."""
    worker.redis.lpush("celery", b"not a task message")
    wait_for(lambda: worker.redis.llen("celery") == 0, timeout)


@pytest.mark.timeout(300)
def test_a_worker_busy_with_a_long_mission_stays_live(worker: MissionWorker, llm: FakeLLM) -> None:
    """Its one slot is taken, so kombu sends no BRPOP: the loop's timer beats instead."""
    llm.state.latency_s = LLM_LATENCY_S
    try:
        task_id = worker.essay_mission()
        wait_for(lambda: llm.state.in_flight > 0, 60)  # the mission waits on the LLM
        statuses = []
        deadline = time.monotonic() + 1.5 * WINDOW_S
        while time.monotonic() < deadline:
            statuses.append(worker.status("/livez"))
            time.sleep(0.5)
        assert set(statuses) == {200}, statuses
        # Nothing is taken off the list meanwhile: the worker exports that backlog itself.
        worker.redis.lpush("celery", b"waiting 1", b"waiting 2", b"waiting 3")
        backlog = 'studysavvy_worker_queue_length{queue="celery"} 3.0'
        assert backlog in httpx.get(f"{worker.metrics_url}/metrics", timeout=5).text
        assert worker.meta(task_id, timeout=8 * LLM_LATENCY_S)["status"] == "SUCCESS"
        wait_for(lambda: worker.redis.llen("celery") == 0, 60)  # consumed once free
    finally:
        llm.state.latency_s = 0.0


@pytest.mark.timeout(300)
def test_liveness_fails_while_the_broker_connection_hangs_and_recovers(
    worker: MissionWorker, proxy: subprocess.Popen[str]
) -> None:
    assert worker.status("/livez") == 200
    assert worker.status("/readyz") == 200
    consumes(worker)

    os.kill(proxy.pid, signal.SIGSTOP)
    try:
        stalled_after = wait_for(lambda: worker.status("/livez") == 503, WINDOW_S + 30)
        # Not at once: the window allows for a slow broker reply.
        assert stalled_after >= 0.5 * WINDOW_S, stalled_after
        assert worker.status("/readyz") == 503  # the broker does not answer PING
        # Why /metrics was no liveness probe: it answers from its own thread. It tells
        # that the broker is out of reach (its scrape-time LLEN fails) and the beat is old.
        metrics = httpx.get(f"{worker.metrics_url}/metrics", timeout=10).text
        assert "studysavvy_worker_broker_up 0.0" in metrics
        time.sleep(2.0)
        assert worker.status("/livez") == 503  # and it stays failed while frozen
    finally:
        os.kill(proxy.pid, signal.SIGCONT)

    wait_for(lambda: worker.status("/livez") == 200, 90)
    wait_for(lambda: worker.status("/readyz") == 200, 30)
    consumes(worker)
    metrics = httpx.get(f"{worker.metrics_url}/metrics", timeout=10).text
    assert "studysavvy_worker_broker_up 1.0" in metrics


@pytest.mark.timeout(300)
def test_liveness_holds_through_a_warm_shutdown(worker: MissionWorker, llm: FakeLLM) -> None:
    """SIGTERM stops the consumer on purpose while the running mission finishes (within
    the termination grace period): a failing probe would kill it mid-way. Runs last: the
    worker exits at the end."""
    llm.state.latency_s = LLM_LATENCY_S
    task_id = worker.essay_mission()
    wait_for(lambda: llm.state.in_flight > 0, 60)
    os.kill(worker.pid, signal.SIGTERM)
    statuses = []
    deadline = time.monotonic() + 1.5 * WINDOW_S
    while time.monotonic() < deadline:
        statuses.append(worker.status("/livez"))
        time.sleep(0.5)
    assert set(statuses) == {200}, statuses
    assert worker.meta(task_id, timeout=8 * LLM_LATENCY_S)["status"] == "SUCCESS"
    llm.state.latency_s = 0.0
