"""The real path of a lecture: ``LPUSH`` -> a worker process -> the real ASR service
(tiny.en, 2 threads) -> the fake LLM -> MariaDB, for the long-lecture tests and the
lecture benchmark. Also: watching a mission's progress, and a process's peak memory.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from Crypto.PublicKey import RSA

from demo.go_backend import push
from tests.support.fake_llm import FakeLLM
from tests.support.lecture_audio import LectureFile
from tests.support.services import final_task_meta, free_port, running_process, wait_http
from worker.crypto import encrypt_v1
from worker.store import create_engine, create_schema, files

API_KEY = "sk-lecture-test-key-0013"
# The bounds: the worker's extra memory per mission, the ASR service's peak.
WORKER_MIB = 64
ASR_SERVICE_MIB = 2.5 * 1024


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process, from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def reset_peak(pid: int) -> None:
    """Restart a process's ``VmHWM`` from its current RSS (Linux 4.0+: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Progress:
    """Everything a mission published while it ran: result-backend states (what the
    backend or the demo reads) and ``task-progress`` events (what Flower reads)."""

    states: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # monotonic arrival of each state


def _event_bodies(message: dict[str, Any]) -> list[dict[str, Any]]:
    envelope = json.loads(message["data"])
    body = envelope["body"]
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    decoded = json.loads(body)
    return decoded if isinstance(decoded, list) else [decoded]


@contextmanager
def watch_progress(client: redis.Redis, task_id: str) -> Iterator[Progress]:
    """Collects ``task_id``'s states (the Redis result backend publishes each one on its
    key's channel) and Celery events (the ``celeryev`` fanout) while the block runs."""
    seen = Progress()
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(f"celery-task-meta-{task_id}")
    pubsub.psubscribe("*celeryev*")
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message is None:
                continue
            if message["type"] == "message":
                state = json.loads(message["data"])
                if state.get("status") == "PROGRESS":
                    seen.states.append(state["result"])
                    seen.times.append(time.monotonic())
            else:
                seen.events += [e for e in _event_bodies(message) if e.get("uuid") == task_id]

    while pubsub.get_message(timeout=0.2) is not None:  # subscriptions are live
        pass
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        time.sleep(1.0)  # the last events are flushed by the worker's event buffer
        stop.set()
        thread.join()
        pubsub.close()


@dataclass
class LectureStack:
    redis: redis.Redis
    engine: sa.Engine
    llm: FakeLLM
    audio: Path
    asr_url: str
    asr_pid: int
    worker_pid: int
    public_key: RSA.RsaKey
    log_path: Path

    def add_row(self, path: Path) -> str:
        """A PENDING ASR row for ``path``, as the backend makes it; returns its id."""
        file_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                files.insert().values(
                    id=file_id,
                    user_mail="student@example.com",
                    status="PENDING",
                    type="ASR",
                    created_at=datetime(2026, 5, 1, 12, 0),
                    resource=str(path),
                    result=None,
                )
            )
        return file_id

    def push(self, file_id: str, path: Path, prompt: str = "生態系") -> str:
        """The row's ``ASR_predict`` message, as the Go backend pushes it; the task id."""
        sealed = encrypt_v1(API_KEY, self.public_key)
        kwargs = {
            "id": file_id,
            "file": str(path),
            "prompt": prompt,
            "api_key": sealed.data,
            "access_token": "",
            "key_api_key": sealed.key,
            "key_access_token": "",
        }
        return push(self.redis, "tasks.ASR_predict", kwargs, file_id)

    def meta(self, task_id: str, timeout: float) -> dict[str, Any]:
        return final_task_meta(self.redis, task_id, timeout, 0.05)

    def row(self, file_id: str) -> tuple[str, dict[str, Any] | None]:
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(files.c.status, files.c.result).where(files.c.id == file_id)
            ).one()
        return str(found.status), found.result


@contextmanager
def lecture_stack(
    base: Path,
    redis_url: str,
    database_url: str,
    redis_db: int,
    *,
    llm_latency_s: float = 2.0,
    asr_env: dict[str, str] | None = None,
    worker_env: dict[str, str] | None = None,
) -> Iterator[LectureStack]:
    """The ASR service, the fake LLM and one worker (threads, 4 slots) on ``redis_db``."""
    audio = base / "audio"
    audio.mkdir(exist_ok=True)
    key = RSA.generate(2048)
    key_path = base / "private_key.pem"
    key_path.write_bytes(key.export_key("PEM"))
    engine = create_engine(database_url)
    create_schema(engine)
    redis_base = redis_url.rsplit("/", 1)[0]
    client = redis.Redis.from_url(f"{redis_base}/{redis_db}")
    client.flushdb()
    host, port = redis_base.removeprefix("redis://").split(":")
    asr_port = free_port()
    asr_url = f"http://127.0.0.1:{asr_port}"
    asr = {"ASR_HOST": "127.0.0.1", "ASR_PORT": str(asr_port), "ASR_CPU_THREADS": "2"}
    with (
        FakeLLM(latency_s=llm_latency_s) as llm,
        running_process(
            ["python", "-m", "inference.asr_server"],
            env={**asr, **(asr_env or {})},
            ready_url=f"{asr_url}/readyz",
            log_path=base / "asr.log",
        ) as asr_proc,
    ):
        env = {
            "REDIS_HOST": host,
            "REDIS_PORT": port,
            "REDIS_DB": str(redis_db),
            "DATABASE_URL": database_url,
            "DIRECTORY_AUDIO": str(audio),
            "DIRECTORY_GRAPH": str(base),
            "PRIVATE_KEY_PATH": str(key_path),
            "OPENAI_BASE_URL": llm.url,
            "OPENAI_MAX_RETRIES": "0",
            "INFERENCE_ASR_URL": asr_url,
            "TASK_TIME_LIMIT_S": "5400",
            "VISIBILITY_TIMEOUT_S": "7200",
            "TASK_MAX_RETRIES": "1",
            "RETRY_BACKOFF_S": "0.5",
            "METRICS_PORT": str(free_port()),
            "LOG_LEVEL": "INFO",
            **(worker_env or {}),
        }
        args = ["python", "-m", "celery", "-A", "worker.app", "worker", "-P", "threads"]
        args += ["-c", "4", "--without-mingle", "--without-gossip"]
        args += ["-n", f"lecture-{uuid.uuid4().hex[:6]}@%h"]
        log_path = base / "worker.log"
        with running_process(args, env=env, log_path=log_path) as proc:
            wait_http(f"http://127.0.0.1:{env['METRICS_PORT']}/livez", timeout=120, proc=proc)
            yield LectureStack(
                client, engine, llm, audio, asr_url, asr_proc.pid, proc.pid,
                key.public_key(), log_path,
            )  # fmt: skip
    engine.dispose()


@dataclass
class Run:
    lecture: LectureFile
    file_id: str
    meta: dict[str, Any]
    wall_s: float
    progress: Progress
    pushed_at: float


def run_mission(stack: LectureStack, lecture: LectureFile, timeout: float) -> Run:
    """Push ``lecture`` as the backend would and wait for its end, watching its progress."""
    file_id = stack.add_row(lecture.path)
    with watch_progress(stack.redis, file_id) as progress:
        pushed_at = time.monotonic()
        stack.push(file_id, lecture.path)
        meta = stack.meta(file_id, timeout)
        wall = time.monotonic() - pushed_at
    return Run(lecture, file_id, meta, wall, progress, pushed_at)
