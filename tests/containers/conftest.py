"""Fixtures of the container tests: the engine, the images, the loopback services and the
running compose CPU stack (one of each per session). Run by `make test-containers`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from Crypto.PublicKey import RSA

from bench.common import machine
from tests.containers.engine import REPO, Engine, EngineMissing
from tests.containers.images import Built, build_all, record
from tests.containers.stack import (
    ASR_PORT,
    COMPOSE_FILES,
    FACTS,
    METRICS_PORT,
    OCR_PORT,
    PROJECT,
    STARTED,
    Loopback,
    RunningStack,
    write_override,
)
from tests.support.fake_llm import FakeLLM
from tests.support.smtp_sink import Sink, smtp_sink
from worker.store import create_engine, create_schema

REDIS_DB = 12
RESULTS = REPO / "bench" / "results" / "containers.json"
READY_PATHS = {
    "asr": f"http://127.0.0.1:{ASR_PORT}/readyz",
    "ocr": f"http://127.0.0.1:{OCR_PORT}/readyz",
    "worker": f"http://127.0.0.1:{METRICS_PORT}/livez",
}


@pytest.fixture(scope="session")
def engine() -> Engine:
    try:
        return Engine.from_env()
    except EngineMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def compose_config(engine: Engine) -> dict[str, Any]:
    """The merged compose CPU configuration, as `docker compose config` reads it."""
    out = engine.compose(PROJECT, COMPOSE_FILES, "config", "--format", "json").stdout
    config: dict[str, Any] = json.loads(out)
    return config


@pytest.fixture(scope="session")
def images(engine: Engine, compose_config: dict[str, Any]) -> list[Built]:
    built = build_all(engine, compose_config)
    FACTS["images"] = built
    return built


@pytest.fixture(scope="session")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="session")
def mail() -> Iterator[tuple[Sink, int]]:
    with smtp_sink() as sink_and_port:
        yield sink_and_port


@pytest.fixture(scope="session")
def broker() -> redis.Redis:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def database(mariadb_url: str) -> Iterator[Any]:
    db = create_engine(mariadb_url)
    create_schema(db)  # the Go backend's `files` table
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def private_key() -> RSA.RsaKey:
    return RSA.generate(2048)


@pytest.fixture(scope="session")
def stack(
    engine: Engine,
    images: list[Built],
    llm: FakeLLM,
    mail: tuple[Sink, int],
    broker: redis.Redis,
    database: Any,
    mariadb_url: str,
    private_key: RSA.RsaKey,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningStack]:
    folder = tmp_path_factory.mktemp("compose")
    folder.chmod(0o755)
    loopback = Loopback(REDIS_DB, mariadb_url, llm.url, mail[1])
    secrets = {
        "rsa_private_key": private_key.export_key("PEM").decode(),
        "database_url": mariadb_url,
    }
    override = write_override(folder, loopback, secrets)
    running = RunningStack(engine, [*COMPOSE_FILES, override], folder / "media")
    started = time.monotonic()
    try:
        running.compose("up", "--detach", "--no-deps", "--no-build", *STARTED)
        running.ready_s = wait_ready(running, started, timeout=420)
        FACTS["start_to_ready_s"] = running.ready_s
        yield running
    finally:
        for service in STARTED:
            print(f"--- {service} ---\n{engine.logs(f'{PROJECT}-{service}-1', tail=30)}")
        running.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")


def wait_ready(running: RunningStack, started: float, timeout: float) -> dict[str, float]:
    """Seconds from `compose up` until each service answers its ready path."""
    ready: dict[str, float] = {}
    while len(ready) < len(READY_PATHS):
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            late = sorted(set(READY_PATHS) - set(ready))
            raise AssertionError(f"not ready in {timeout}s: {late}")
        for service, url in READY_PATHS.items():
            if service in ready:
                continue
            state = running.inspect(service)["State"]
            if not state["Running"]:
                raise AssertionError(f"{service} stopped: {state}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    ready[service] = round(time.monotonic() - started, 1)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    return ready


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if FACTS.get("images"):
        FACTS["machine"] = machine()  # CPU model and flags, as every bench records them
        FACTS["measured"] = time.strftime("%Y-%m-%d")
        record(RESULTS, FACTS)
