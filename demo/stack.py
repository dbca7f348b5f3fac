"""Starting the whole system: Redis, SMTP sink, ASR, OCR, the local LLM and the worker.

Each part is either started here or, when its setting names a real service, only
connected to. Everything a child needs travels as environment variables, read by that
child's own settings class.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from demo.redis_server import RedisEndpoint, start_private_redis, wait_redis
from demo.settings import DemoSettings
from demo.supervisor import Child, ChildFailed, Supervisor
from worker.store import create_engine, create_schema

log = logging.getLogger(__name__)

WORKER_APP = "worker.app"
LOCAL_MODEL = "smollm2-135m-instruct"
CRNN_WEIGHTS_ENV = "OCR_RECOGNIZER__CRNN_WEIGHTS"


@dataclass
class Stack:
    """Where every part of the running system is, plus what the demo needs to play."""

    workdir: Path
    redis: RedisEndpoint
    database_url: str
    audio_dir: Path
    graph_dir: Path
    private_key_path: Path
    llm_credential: str
    maildir: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_endpoint(url: str) -> RedisEndpoint:
    parts = urlsplit(url)
    db = int(parts.path.lstrip("/") or 0)
    password = unquote(parts.password) if parts.password else None
    return RedisEndpoint(parts.hostname or "127.0.0.1", parts.port or 6379, password, db)


def start_stack(settings: DemoSettings, supervisor: Supervisor, workdir: Path) -> Stack:
    """Start every part, wait until each is ready, return where they are."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    redis = _redis(settings, supervisor, workdir)
    timings["redis"] = time.monotonic() - started
    stack = Stack(
        workdir=workdir,
        redis=redis,
        database_url=_database(settings, workdir),
        audio_dir=_mkdir(workdir / "media" / "audio"),
        graph_dir=_mkdir(workdir / "media" / "graph"),
        private_key_path=workdir / "private_key.pem",
        llm_credential=_llm_credential(settings),
        maildir=None if settings.smtp_host else workdir / "mail",
        timings=timings,
    )
    waits = _start_services(settings, supervisor, stack)
    timings.update(supervisor.wait_all_ready(waits, settings.startup_timeout_s))
    for name in ("asr", "ocr", "llm"):
        stack.endpoints.setdefault(name, "")
    return stack


def start_worker(settings: DemoSettings, supervisor: Supervisor, stack: Stack) -> Child:
    args = [
        "python", "-m", "celery", "-A", WORKER_APP, "worker",
        "--pool", "threads", "--concurrency", str(settings.worker_concurrency),
        "--loglevel", settings.log_level, "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    return supervisor.start("worker", args, worker_env(settings, stack))


def worker_env(settings: DemoSettings, stack: Stack) -> dict[str, str]:
    env = {
        "REDIS_HOST": stack.redis.host,
        "REDIS_PORT": str(stack.redis.port),
        "REDIS_PASSWORD": stack.redis.password or "",
        "REDIS_DB": str(stack.redis.db),
        "CELERY_TASK": settings.celery_task,
        "DATABASE_URL": stack.database_url,
        "DIRECTORY_AUDIO": str(stack.audio_dir),
        "DIRECTORY_GRAPH": str(stack.graph_dir),
        "PRIVATE_KEY_PATH": str(stack.private_key_path),
        "OPENAI_BASE_URL": stack.endpoints["llm"],
        "OPENAI_MODEL": LOCAL_MODEL if settings.local_llm else settings.openai_model,
        "OPENAI_MAX_TOKENS": str(settings.llm_max_tokens),
        "LLM_NOTES_MAX_TOKENS": str(settings.llm_notes_max_tokens),
        "INFERENCE_ASR_URL": stack.endpoints["asr"],
        "INFERENCE_OCR_URL": stack.endpoints["ocr"],
        "LOG_LEVEL": settings.log_level,
    }
    if settings.local_llm:
        # A tiny model rarely ends on its own: one answer per call keeps the demo short.
        env["LLM_MAX_CONTINUATIONS"] = "0"
        env["OPENAI_TIMEOUT_S"] = str(settings.llm_timeout_s)
        env["OPENAI_MAX_RETRIES"] = "0"
    env.update(_smtp_env(settings, stack))
    return env


def _smtp_env(settings: DemoSettings, stack: Stack) -> dict[str, str]:
    if settings.smtp_host is None:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": stack.endpoints["smtp"].rsplit(":", 1)[1],
            "SMTP_SECURITY": "none",
            "SMTP_SENDER": settings.smtp_sender,
        }
    env = {
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
        "SMTP_SECURITY": settings.smtp_security,
        "SMTP_SENDER": settings.smtp_sender,
    }
    if settings.smtp_user:
        env["SMTP_USER"] = settings.smtp_user
    if settings.smtp_password is not None:
        env["SMTP_PASSWORD"] = settings.smtp_password.get_secret_value()
    return env


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def _redis(settings: DemoSettings, supervisor: Supervisor, workdir: Path) -> RedisEndpoint:
    if settings.redis_url is not None:
        endpoint = redis_endpoint(settings.redis_url.get_secret_value())
        wait_redis(endpoint, timeout=10.0)
        return endpoint
    _, endpoint = start_private_redis(supervisor, workdir, free_port(), secrets.token_urlsafe(16))
    return endpoint


def _database(settings: DemoSettings, workdir: Path) -> str:
    url = (
        settings.database_url.get_secret_value()
        if settings.database_url is not None
        else f"sqlite:///{(workdir / 'files.db').resolve()}"
    )
    engine: sa.Engine = create_engine(url)
    try:
        create_schema(engine)  # a no-op where the backend's table exists already
    finally:
        engine.dispose()
    return url


def _llm_credential(settings: DemoSettings) -> str:
    if settings.openai_api_key is not None:
        return settings.openai_api_key.get_secret_value()
    # The local server requires this token, so the demo's encrypted credential really is
    # decrypted and used by the worker on the way.
    return "sk-demo-" + secrets.token_urlsafe(24)


def _start_services(
    settings: DemoSettings, supervisor: Supervisor, stack: Stack
) -> dict[str, tuple[Child, str]]:
    """Start the servers at once (they load models in parallel); return what to wait on."""
    waits: dict[str, tuple[Child, str]] = {}
    if stack.maildir is not None:
        port = free_port()
        args = ["python", "-m", "demo.smtp_sink", "--port", str(port)]
        child = supervisor.start("smtp", [*args, "--maildir", str(stack.maildir)], {})
        stack.endpoints["smtp"] = f"127.0.0.1:{port}"
        _wait_tcp(supervisor, child, port, settings.startup_timeout_s)
    for name, external in (("asr", settings.asr_url), ("ocr", settings.ocr_url)):
        if external:
            stack.endpoints[name] = external.rstrip("/")
            continue
        port = free_port()
        env = {f"{name.upper()}_PORT": str(port), f"{name.upper()}_HOST": "127.0.0.1"}
        if name == "ocr":
            env.update(_ocr_weights(settings))
        child = supervisor.start(name, ["python", "-m", f"inference.{name}_server"], env)
        stack.endpoints[name] = f"http://127.0.0.1:{port}"
        waits[name] = (child, f"{stack.endpoints[name]}/readyz")
    if settings.local_llm:
        port = free_port()
        env = {
            "LLM_PORT": str(port),
            "LLM_HOST": "127.0.0.1",
            "LLM_AUTH_TOKEN": stack.llm_credential,
            "LLM_MAX_TOKENS_CAP": str(max(settings.llm_max_tokens, settings.llm_notes_max_tokens)),
        }
        child = supervisor.start("llm", ["python", "-m", "inference.llm_server"], env)
        stack.endpoints["llm"] = f"http://127.0.0.1:{port}/v1"
        waits["llm"] = (child, f"http://127.0.0.1:{port}/readyz")
    else:
        stack.endpoints["llm"] = settings.openai_base_url or "https://api.openai.com/v1"
    return waits


def _ocr_weights(settings: DemoSettings) -> dict[str, str]:
    """The handwriting recognizer, where one was trained and no other weights are set."""
    if not settings.handwriting or os.environ.get(CRNN_WEIGHTS_ENV):
        return {}
    return {CRNN_WEIGHTS_ENV: str(settings.handwriting_model.resolve())}


def _wait_tcp(supervisor: Supervisor, child: Child, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check(child)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ChildFailed(f"{child.name} is not listening on port {port}")
