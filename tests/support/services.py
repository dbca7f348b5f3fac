"""Finding the real services the tests use, and starting the project's own servers.

Under ``CI=true`` a missing service is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (newcomer's laptop) or fail (CI) when a real service is not listening."""
    if listening(host, port):
        return
    message = f"{name} is not listening on {host}:{port} (run `make services`)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(
    url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} was ready")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@contextmanager
def running_process(
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    ready_url: str | None = None,
    ready_timeout: float = 180.0,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` (``sys.executable`` is used for a leading "python"), wait for
    ``ready_url``, and terminate it (then kill) on exit."""
    if args and args[0] == "python":
        args = [sys.executable, *args[1:]]
    full_env = {**os.environ, **(env or {})}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(args, env=full_env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        if ready_url:
            wait_http(ready_url, ready_timeout, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            out.close()  # type: ignore[union-attr]


def final_task_meta(client: Any, task_id: str, timeout: float, poll_s: float) -> dict[str, Any]:
    """The final Celery state (SUCCESS or FAILURE) of a task, from the Redis result backend."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = client.get(f"celery-task-meta-{task_id}")
        if raw is not None:
            meta: dict[str, Any] = json.loads(raw)
            if meta["status"] in ("SUCCESS", "FAILURE"):
                return meta
        time.sleep(poll_s)
    raise TimeoutError(f"task {task_id} did not finish")
