"""One real worker process per backend (MariaDB, SQLite), fed raw Go-style messages.

Each worker gets its own Redis database (the queue is always ``celery``), its own media
roots, a fake LLM, a stub inference server and an SMTP sink, all real servers on
loopback. Tests push many messages to the same worker instead of starting one each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from Crypto.PublicKey import RSA

from demo.go_backend import push
from tests.support.fake_llm import FakeLLM
from tests.support.services import final_task_meta, running_process
from tests.support.smtp_sink import Sink, smtp_sink
from tests.support.stub_inference import StubInference
from worker.crypto import encrypt_v1, encrypt_v2
from worker.store import create_engine, create_schema, files

# Tails outside the hex alphabet: a leak check on a tail must not match a random task id.
GOOD_KEY = "sk-live-GOODKEY-Qz7wXr9yKt"
BAD_KEY = "sk-live-REVOKED-Zq0wYv4X"
TOKEN = "eyJ-access-token-PLAINTEXT-42"
# Redis databases of this area only (the session fixture uses 9).
REDIS_DBS = {"mariadb": 13, "sqlite": 14}


@dataclass
class WorkerEnv:
    backend: str
    redis: redis.Redis
    engine: sa.Engine
    llm: FakeLLM
    stub: StubInference
    sink: Sink
    audio: Path
    graph: Path
    public_key: RSA.RsaKey
    log_path: Path

    def credentials(
        self, api_key: str = GOOD_KEY, token: str = "", v2: bool = False
    ) -> dict[str, str]:
        out = {"api_key": "", "key_api_key": "", "access_token": "", "key_access_token": ""}
        if api_key:
            env = (
                encrypt_v2(api_key, self.public_key, "api_key")
                if v2
                else encrypt_v1(api_key, self.public_key)
            )
            out.update(api_key=env.data, key_api_key=env.key)
        if token:
            env = (
                encrypt_v2(token, self.public_key, "access_token")
                if v2
                else encrypt_v1(token, self.public_key)
            )
            out.update(access_token=env.data, key_access_token=env.key)
        return out

    def add_row(
        self, kind: str, status: str = "PENDING", result: dict[str, Any] | None = None
    ) -> str:
        file_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                files.insert().values(
                    id=file_id,
                    user_mail="student@example.com",
                    status=status,
                    type=kind,
                    created_at=datetime(2024, 5, 1, 12, 0),
                    resource="",
                    result=result,
                )
            )
        return file_id

    def media(self, kind: str, data: bytes, ext: str) -> str:
        root = self.audio if kind == "ASR" else self.graph
        path = root / f"{uuid.uuid4()}{ext}"
        path.write_bytes(data)
        return str(path)

    def push(self, task: str, kwargs: dict[str, Any], task_id: str | None = None) -> str:
        return push(self.redis, f"tasks.{task}", kwargs, task_id)

    def row(self, file_id: str) -> tuple[str, dict[str, Any] | None]:
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(files.c.status, files.c.result).where(files.c.id == file_id)
            ).one()
        return str(found.status), found.result

    def meta(self, task_id: str, timeout: float = 40.0) -> dict[str, Any]:
        """The final Celery state of a task, from the Redis result backend."""
        return final_task_meta(self.redis, task_id, timeout, 0.05)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module", params=["mariadb", "sqlite"])
def worker_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[WorkerEnv]:
    backend = request.param
    base = tmp_path_factory.mktemp(f"worker-{backend}")
    audio, graph = base / "audio", base / "graph"
    audio.mkdir()
    graph.mkdir()
    key = RSA.generate(2048)
    key_path = base / "private_key.pem"
    key_path.write_bytes(key.export_key("PEM"))
    if backend == "sqlite":
        db_url = f"sqlite:///{base / 'studysavvy.db'}"
    else:
        db_url = request.getfixturevalue("mariadb_url")
    engine = create_engine(db_url)
    create_schema(engine)
    redis_base = redis_url.rsplit("/", 1)[0]
    db = REDIS_DBS[backend]
    client = redis.Redis.from_url(f"{redis_base}/{db}")
    client.flushdb()
    host, port = redis_base.removeprefix("redis://").split(":")
    log_path = base / "worker.log"
    with FakeLLM() as llm, StubInference() as stub, smtp_sink() as (sink, smtp_port):
        llm.reject(BAD_KEY)
        env = {
            "REDIS_HOST": host,
            "REDIS_PORT": port,
            "REDIS_DB": str(db),
            "CELERY_TASK": "tasks",
            "DATABASE_URL": db_url,
            "DIRECTORY_AUDIO": str(audio),
            "DIRECTORY_GRAPH": str(graph),
            "PRIVATE_KEY_PATH": str(key_path),
            "OPENAI_BASE_URL": llm.url,
            "OPENAI_TOKEN_BASE_URL": llm.url,
            "OPENAI_MAX_RETRIES": "1",
            "INFERENCE_ASR_URL": stub.url,
            "INFERENCE_OCR_URL": stub.url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_SECURITY": "none",
            "TASK_MAX_RETRIES": "2",
            "RETRY_BACKOFF_S": "0.05",
            "RETRY_BACKOFF_MAX_S": "0.2",
            "LOG_LEVEL": "DEBUG",
            # A test module may set WORKER_ENV to run its own worker with other settings.
            **getattr(request.module, "WORKER_ENV", {}),
        }
        args = [
            "python",
            "-m",
            "celery",
            "-A",
            "worker.app",
            "worker",
            "-P",
            "threads",
            "-c",
            "8",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"test-{backend}-{uuid.uuid4().hex[:6]}@%h",
        ]
        with running_process(args, env=env, log_path=log_path):
            yield WorkerEnv(
                backend, client, engine, llm, stub, sink, audio, graph, key.public_key(), log_path
            )
    engine.dispose()
