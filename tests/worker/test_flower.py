"""Flower, from PyPI, against the real worker and Redis: an operator reads a mission's
state and its ``task-progress`` stages through Flower's HTTP API, behind basic auth.

Flower runs the worker's own app (``celery --app=worker.app flower``), as compose and the
k8s component do. The fake LLM answers slowly, so each stage lasts long enough to be seen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.mission_worker import API_KEY, MissionWorker, mission_worker
from tests.support.services import REPO, free_port, require_service, running_process

REDIS_DB = 15  # this module's own database (tests/conftest.py lists the others)
AUTH = ("operator", "flower-test-password")
LLM_LATENCY_S = 1.5


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(latency_s=LLM_LATENCY_S) as server:
        yield server


@pytest.fixture(scope="module")
def worker(llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MissionWorker]:
    require_service("Redis", "127.0.0.1", 6379)
    with mission_worker(tmp_path_factory.mktemp("flower-worker"), REDIS_DB, llm) as running:
        yield running


@pytest.fixture(scope="module")
def flower(worker: MissionWorker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "REDIS_DB": str(REDIS_DB),
        "FLOWER_BASIC_AUTH": ":".join(AUTH),
        # As in the flower image: Flower's API shows the progress fields.
        "FLOWER_CONF": str(REPO / "worker" / "flowerconfig.py"),
    }
    args = ["python", "-m", "celery", "--app=worker.app", "flower"]
    args += ["--address=127.0.0.1", f"--port={port}"]
    base = f"http://127.0.0.1:{port}"
    log: Path = tmp_path_factory.mktemp("flower") / "flower.log"
    with running_process(args, env=env, ready_url=f"{base}/healthcheck", log_path=log):
        # Flower learns of workers from their heartbeat events (every 2 s).
        online = f'flower_worker_online{{worker="{worker.hostname}"}} 1.0'
        deadline = time.monotonic() + 60
        while online not in httpx.get(f"{base}/metrics", timeout=5).text:
            assert time.monotonic() < deadline, "Flower never saw the worker"
            time.sleep(0.5)
        yield base


def api_tasks(flower: str) -> dict[str, dict[str, object]]:
    tasks: dict[str, dict[str, object]] = httpx.get(
        f"{flower}/api/tasks", auth=AUTH, timeout=10
    ).json()
    return tasks


def test_flower_refuses_requests_without_the_password(flower: str) -> None:
    assert httpx.get(f"{flower}/api/tasks", timeout=5).status_code == 401
    wrong = httpx.get(f"{flower}/api/tasks", auth=("operator", "guess"), timeout=5)
    assert wrong.status_code == 401
    assert httpx.get(f"{flower}/api/tasks", auth=AUTH, timeout=5).status_code == 200


@pytest.mark.timeout(180)
def test_flower_shows_a_missions_state_and_progress_stages(
    flower: str, worker: MissionWorker
) -> None:
    task_id = worker.essay_mission()
    states, stages = [], []
    with httpx.Client(base_url=flower, auth=AUTH, timeout=10) as api:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = api.get(f"/api/task/info/{task_id}")
            if info.status_code == 200:
                task = info.json()
                if not states or states[-1] != task["state"]:
                    states.append(task["state"])
                stage = task["stage"] if task["state"] == "PROGRESS" else None
                if stage and (not stages or stages[-1] != stage):
                    stages.append(stage)
                if states[-1] in ("SUCCESS", "FAILURE"):
                    break
            time.sleep(0.1)
        final = api.get(f"/api/task/info/{task_id}").json()
        metrics = httpx.get(f"{flower}/metrics", timeout=5).text

    assert final["state"] == "SUCCESS", final
    assert final["name"] == "tasks.OCR_predict_Text"
    assert final["worker"] == worker.hostname
    assert all(final[key] for key in ("received", "started", "succeeded"))
    assert final["received"] <= final["started"] <= final["succeeded"]
    # task-progress events move Flower's state to PROGRESS between STARTED and SUCCESS.
    assert "PROGRESS" in states, states
    assert states[-1] == "SUCCESS"
    # Stages seen in order (fast ones may slip between two polls, never out of order).
    order = ["queued", "prompting", "saving"]
    assert "prompting" in stages, stages
    assert [order.index(s) for s in stages] == sorted(order.index(s) for s in stages), stages
    # The last task-progress event (saving) stays on the finished task.
    assert final["stage"] == "saving", final
    # The audio progress fields are served too (empty for a text mission).
    assert (final["done_s"], final["total_s"]) == (None, None), final
    listed = api_tasks(flower)[task_id]
    assert (listed["state"], listed["stage"]) == ("SUCCESS", "saving")
    # Flower counted every task-progress event the mission sent: queued, one or more
    # prompting steps, saving.
    counted = re.search(
        r'flower_events_total\{task="tasks.OCR_predict_Text",type="task-progress",'
        rf'worker="{re.escape(worker.hostname)}"\}} ([0-9.]+)',
        metrics,
    )
    assert counted is not None, metrics[-2000:]
    assert float(counted.group(1)) >= 3
    # The Go backend's messages carry no kwargsrepr: no credential reaches Flower.
    assert final["kwargs"] in ("", "{}", None)
    sealed = worker.redis.get(f"celery-task-meta-{task_id}") or b""
    assert API_KEY.encode() not in sealed
    assert API_KEY not in str(final)
