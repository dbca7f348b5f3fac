"""A real worker process (``celery -A worker.app worker``) with its metrics and probe port,
a SQLite ``files`` table, the fake LLM and a fresh RSA key: enough to run text missions
(``OCR_predict_Text``) end to end, for the operations tests (probes, Flower, metrics).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from Crypto.PublicKey import RSA

from demo.go_backend import push
from tests.support.fake_llm import FakeLLM
from tests.support.services import final_task_meta, free_port, running_process, wait_http
from worker.crypto import encrypt_v1
from worker.store import create_engine, create_schema, files

API_KEY = "sk-ops-test-key-0042"
ESSAY = "My summer holiday was short but I learned to swim in the cold sea with my brother."


@dataclass
class MissionWorker:
    redis: redis.Redis  # straight to Redis, on the worker's database
    metrics_url: str  # http://127.0.0.1:<METRICS_PORT>
    public_key: RSA.RsaKey
    engine: Any
    hostname: str
    log_path: Path
    pid: int

    def status(self, path: str, timeout: float = 5.0) -> int | None:
        """HTTP status of a probe path, None when the endpoint does not answer in time."""
        try:
            return httpx.get(f"{self.metrics_url}{path}", timeout=timeout).status_code
        except httpx.HTTPError:
            return None

    def essay_mission(self) -> str:
        """A PENDING row and its OCR_predict_Text message; returns the task (= row) id."""
        file_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                files.insert().values(
                    id=file_id,
                    user_mail="student@example.com",
                    status="PENDING",
                    type="OCR",
                    created_at=datetime(2026, 5, 1, 12, 0),
                    resource="",
                    result=None,
                )
            )
        sealed = encrypt_v1(API_KEY, self.public_key)
        kwargs = {
            "id": file_id,
            "content": ESSAY,
            "prompt": "My summer",
            "api_key": sealed.data,
            "access_token": "",
            "key_api_key": sealed.key,
            "key_access_token": "",
        }
        return push(self.redis, "tasks.OCR_predict_Text", kwargs, file_id)

    def meta(self, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The final Celery state of a task, from the Redis result backend."""
        return final_task_meta(self.redis, task_id, timeout, 0.1)


@contextmanager
def mission_worker(
    base: Path,
    redis_db: int,
    llm: FakeLLM,
    *,
    redis_port: int = 6379,
    concurrency: int = 2,
    **env: str,
) -> Iterator[MissionWorker]:
    """Run a worker on ``redis_db`` (flushed first), reaching Redis at ``redis_port``."""
    key = RSA.generate(2048)
    key_path = base / "private_key.pem"
    key_path.write_bytes(key.export_key("PEM"))
    db_url = f"sqlite:///{base / 'files.db'}"
    engine = create_engine(db_url)
    create_schema(engine)
    client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{redis_db}")
    client.flushdb()
    port = free_port()
    hostname = f"ops-{uuid.uuid4().hex[:6]}@localhost"
    full_env = {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_port),
        "REDIS_DB": str(redis_db),
        "DATABASE_URL": db_url,
        "DIRECTORY_AUDIO": str(base),
        "DIRECTORY_GRAPH": str(base),
        "PRIVATE_KEY_PATH": str(key_path),
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_MAX_RETRIES": "0",
        "METRICS_PORT": str(port),
        "LOG_LEVEL": "INFO",
        **env,
    }
    args = ["python", "-m", "celery", "-A", "worker.app", "worker", "-P", "threads"]
    args += ["-c", str(concurrency), "--without-mingle", "--without-gossip", "-n", hostname]
    log_path = base / "worker.log"
    with running_process(args, env=full_env, log_path=log_path) as proc:
        metrics_url = f"http://127.0.0.1:{port}"
        wait_http(f"{metrics_url}/livez", timeout=120, proc=proc)
        yield MissionWorker(
            client, metrics_url, key.public_key(), engine, hostname, log_path, proc.pid
        )
    engine.dispose()
