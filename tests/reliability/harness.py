"""A worker stack for fault tests: real Redis, MariaDB, stub inference and fake LLM, each
reached by the worker through a fault-injection :class:`TcpProxy`.

The Go-backend side (pushes, row reads, result-backend reads) talks to Redis and MariaDB
directly; only the worker's connections cross the proxies. Worker processes are started
per test (``stack.worker(...)``) because the tests kill them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from tests.support.services import REPO
from tests.support.tcp_proxy import TcpProxy
from tests.worker.conftest import WorkerEnv

RESULTS = REPO / "bench" / "results" / "reliability.json"
_results_lock = threading.Lock()

# Short timeouts so a lost message comes back in seconds; the validator in
# WorkerSettings still demands VISIBILITY > TIME_LIMIT + BACKOFF_MAX.
BASE_ENV = {
    "CELERY_TASK": "tasks",
    "OPENAI_MAX_RETRIES": "1",
    "OPENAI_TIMEOUT_S": "5",
    "TASK_MAX_RETRIES": "12",
    "RETRY_BACKOFF_S": "0.5",
    "RETRY_BACKOFF_MAX_S": "2",
    "TASK_TIME_LIMIT_S": "15",
    "VISIBILITY_TIMEOUT_S": "18",
    "TASK_MAX_DELIVERIES": "3",
    "LOG_LEVEL": "DEBUG",
}


@dataclass
class Stack:
    env: WorkerEnv
    redis_proxy: TcpProxy
    db_proxy: TcpProxy
    inference_proxy: TcpProxy
    llm_proxy: TcpProxy
    worker_env: dict[str, str]
    base: Path
    logs: list[Path] = field(default_factory=list)

    @contextmanager
    def worker(
        self, pool: str = "threads", concurrency: int = 8, **extra: str
    ) -> Iterator[subprocess.Popen[bytes]]:
        """A Celery worker of this stack; its log is kept for the secret scan."""
        log_path = self.base / f"worker-{len(self.logs)}.log"
        self.logs.append(log_path)
        args = [
            sys.executable, "-m", "celery", "-A", "worker.app", "worker",
            "-P", pool, "-c", str(concurrency), "--without-mingle", "--without-gossip",
            "-n", f"rel-{uuid.uuid4().hex[:6]}@%h",
        ]  # fmt: skip
        full_env = {**os.environ, **self.worker_env, **extra}
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(args, env=full_env, cwd=REPO, stdout=out, stderr=out)
        try:
            wait_for(lambda: "ready." in log_path.read_text(errors="replace"), 60, proc)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def text_mission(self, marker: str = "", task: str = "OCR_predict_Text") -> tuple[str, str]:
        """Push one essay-text mission; returns (row id, task id)."""
        file_id = self.env.add_row("OCR")
        content = f"My Dream {marker or file_id}\n    I want to teach because I like helping."
        kwargs = {"id": file_id, "content": content, "prompt": "", **self.env.credentials()}
        return file_id, self.env.push(task, kwargs)

    def audio_mission(self, data: bytes = b"ID3 fake mp3", ext: str = ".mp3") -> tuple[str, str]:
        file_id = self.env.add_row("ASR")
        path = self.env.media("ASR", data, ext)
        kwargs = {"id": file_id, "file": path, "prompt": "", **self.env.credentials()}
        return file_id, self.env.push("ASR_predict", kwargs)

    def writes(self, file_id: str) -> list[str]:
        """Every status the worker wrote to this row, from the audit trigger."""
        with self.env.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT status FROM files_audit WHERE id = :id ORDER BY n"),
                {"id": file_id},
            ).all()
        return [str(r.status) for r in rows]

    def unacked(self) -> int:
        return int(self.env.redis.hlen("unacked"))

    def calls_for(self, marker: str) -> int:
        return sum(marker in call.last_user for call in self.env.llm.calls())


AUDIT_SQL = [
    """CREATE TABLE IF NOT EXISTS files_audit (
           n INT AUTO_INCREMENT PRIMARY KEY, id CHAR(36), status VARCHAR(16),
           at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3))""",
    """CREATE TRIGGER IF NOT EXISTS files_written AFTER UPDATE ON files FOR EACH ROW
           INSERT INTO files_audit (id, status) VALUES (NEW.id, NEW.status)""",
]


def install_audit(engine: sa.Engine) -> None:
    """Counts real writes: a row that ends SUCCESS "exactly once" has one audit line."""
    with engine.begin() as conn:
        for statement in AUDIT_SQL:
            conn.execute(sa.text(statement))


def wait_for(
    check: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> float:
    """Seconds until ``check()`` held; fails after ``timeout`` or if ``proc`` died."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"condition not met in {timeout}s")


def pool_children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    children: list[psutil.Process] = psutil.Process(proc.pid).children()
    return children


def final_status(env: WorkerEnv, file_id: str, timeout: float) -> str:
    wait_for(lambda: env.row(file_id)[0] != "PENDING", timeout)
    return env.row(file_id)[0]


def record(fault: str, **measured: Any) -> None:
    """Adds one fault's measurements to bench/results/reliability.json (the closing table)."""
    with _results_lock:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {}
        if RESULTS.exists():
            try:
                data = json.loads(RESULTS.read_text())
            except ValueError:
                data = {}
        data.setdefault("faults", {})[fault] = {
            **measured,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        RESULTS.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
