"""The module-scoped fault stack (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from Crypto.PublicKey import RSA

from tests.reliability.harness import BASE_ENV, Stack, install_audit
from tests.support.fake_llm import FakeLLM
from tests.support.smtp_sink import smtp_sink
from tests.support.stub_inference import StubInference
from tests.support.tcp_proxy import TcpProxy
from tests.worker.conftest import BAD_KEY, WorkerEnv
from worker.store import create_engine, create_schema

# Redis databases of this area only (worker tests use 13-14, the session fixture 9).
REDIS_DB = 11


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, mariadb_url: str
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("reliability")
    audio, graph = base / "audio", base / "graph"
    audio.mkdir()
    graph.mkdir()
    key = RSA.generate(2048)
    key_path = base / "private_key.pem"
    key_path.write_bytes(key.export_key("PEM"))
    engine = create_engine(mariadb_url)
    create_schema(engine)
    install_audit(engine)
    redis_base = redis_url.rsplit("/", 1)[0]
    client = redis.Redis.from_url(f"{redis_base}/{REDIS_DB}")
    client.flushdb()
    redis_host, redis_port = redis_base.removeprefix("redis://").split(":")
    db_host_port = mariadb_url.split("@", 1)[1].split("/", 1)[0]
    db_host, db_port = db_host_port.split(":")
    with (
        FakeLLM() as llm,
        StubInference() as stub,
        smtp_sink() as (sink, smtp_port),
        TcpProxy(redis_host, int(redis_port)) as redis_proxy,
        TcpProxy(db_host, int(db_port)) as db_proxy,
        TcpProxy("127.0.0.1", int(stub.url.rsplit(":", 1)[1])) as inference_proxy,
        TcpProxy("127.0.0.1", int(llm.url.split(":")[2].split("/")[0])) as llm_proxy,
    ):
        llm.reject(BAD_KEY)
        inference_url = f"http://127.0.0.1:{inference_proxy.port}"
        env = {
            **BASE_ENV,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis_proxy.port),
            "REDIS_DB": str(REDIS_DB),
            "DATABASE_URL": mariadb_url.replace(db_host_port, f"127.0.0.1:{db_proxy.port}"),
            "DIRECTORY_AUDIO": str(audio),
            "DIRECTORY_GRAPH": str(graph),
            "PRIVATE_KEY_PATH": str(key_path),
            "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_proxy.port}/v1",
            "INFERENCE_ASR_URL": inference_url,
            "INFERENCE_OCR_URL": inference_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_SECURITY": "none",
        }
        worker_env = WorkerEnv(
            "mariadb", client, engine, llm, stub, sink, audio, graph, key.public_key(),
            base / "unused.log",
        )  # fmt: skip
        yield Stack(worker_env, redis_proxy, db_proxy, inference_proxy, llm_proxy, env, base)
    engine.dispose()


@pytest.fixture(autouse=True)
def _healthy(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends with healthy links and a fresh fake LLM."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack: Stack = request.getfixturevalue("stack")
    for proxy in (stack.redis_proxy, stack.db_proxy, stack.inference_proxy, stack.llm_proxy):
        proxy.heal()
    stack.env.llm.reset()
    stack.env.llm.state.latency_s = 0.0
    yield
    for proxy in (stack.redis_proxy, stack.db_proxy, stack.inference_proxy, stack.llm_proxy):
        proxy.heal()
