"""Fixtures every test area shares: the real Redis and MariaDB on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.services import require_service

REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))
MARIADB_HOST = os.environ.get("TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("TEST_MARIADB_PORT", "3306"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis database of its own for the test session (db 9), flushed at the start."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/9"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """SQLAlchemy URL of a scratch database on the real MariaDB (root, no password)."""
    require_service("MariaDB", MARIADB_HOST, MARIADB_PORT)
    import sqlalchemy as sa

    server = sa.create_engine(f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/test")
    name = f"studysavvy_test_{os.getpid()}"
    with server.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
    yield f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{name}?charset=utf8mb4"
    with server.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    server.dispose()


@pytest.fixture(scope="session")
def handwriting_run(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Synthetic handwriting lines and a CRNN fine-tuned on them at toy size (a few
    hundred lines, killed once and resumed): tests/support/handwriting.py."""
    from tests.support.handwriting import toy_run

    return toy_run(tmp_path_factory.mktemp("handwriting"))
