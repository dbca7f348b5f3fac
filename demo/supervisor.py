"""Child processes of the demo: each in its own process group, all stopped on exit.

Every child gets a new session (``start_new_session``), so stopping it signals the whole
group: a uvicorn server, a Celery worker and its pool threads, or redis-server all go,
with no orphan. :meth:`Supervisor.stop_all` runs on normal exit, on exceptions, from
``atexit`` and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess  # nosec B404 - starts the demo's own services
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

import httpx

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]


class ChildFailed(RuntimeError):
    """A child exited or never became ready."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts children and guarantees they are gone when the demo ends."""

    def __init__(self, log_dir: Path, stop_timeout: float = 15.0) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self._stop_timeout = stop_timeout
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Supervisor:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop_all)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread (e.g. a test runner's worker thread)
                break
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop_all()
        atexit.unregister(self.stop_all)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        log.warning("signal received, stopping", extra={"signal": signum})
        self.stop_all()
        raise SystemExit(128 + signum)

    def start(
        self,
        name: str,
        args: list[str],
        env: Mapping[str, str],
        *,
        ready_url: str | None = None,
    ) -> Child:
        """Start ``args`` (a leading "python" means this interpreter) with ``env`` added."""
        if args and args[0] == "python":
            args = [sys.executable, *args[1:]]
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(  # noqa: S603  # nosec B603 - our own fixed command lines
                args,
                cwd=REPO,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, proc, log_path)
        self.children.append(child)
        log.info("started", extra={"child": name, "pid": proc.pid})
        return child

    def wait_all_ready(
        self, waits: Mapping[str, tuple[Child, str]], timeout: float
    ) -> dict[str, float]:
        """Poll each child's ready URL until it answers 200, all children in the same loop,
        so each one's time is its own; returns seconds from its start to ready."""
        pending = dict(waits)
        ready: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while pending:
            for name, (child, url) in list(pending.items()):
                self.check(child)
                if _answers(url):
                    ready[name] = time.monotonic() - child.started
                    del pending[name]
            if time.monotonic() > deadline:
                tails = "\n".join(f"{n}: {c.tail(5)}" for n, (c, _) in pending.items())
                raise ChildFailed(f"not ready after {timeout:.0f}s:\n{tails}")
            time.sleep(0.25)
        return ready

    def check(self, child: Child) -> None:
        if child.proc.poll() is not None:
            raise ChildFailed(f"{child.name} exited with {child.proc.returncode}\n{child.tail()}")

    def check_all(self) -> None:
        for child in self.children:
            self.check(child)

    def stop_all(self) -> None:
        """SIGTERM every group (newest first), then SIGKILL what is left."""
        for child in reversed(self.children):
            _signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for child in reversed(self.children):
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("killing", extra={"child": child.name})
            # Pool threads or grandchildren may outlive the leader; the group goes anyway.
            _signal_group(child.proc, signal.SIGKILL)
            child.proc.wait()
            _wait_group_gone(child.proc.pid, timeout=5.0)
        self.children.clear()

    def pids(self) -> list[int]:
        return [child.proc.pid for child in self.children]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _running_in_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc (Linux)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The command may contain spaces; the fields after its closing parenthesis do not.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """SIGKILL is delivered asynchronously: return once the group has really died."""
    deadline = time.monotonic() + timeout
    while _running_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if left := _running_in_group(pgid):
        log.warning("processes outlived SIGKILL", extra={"pids": left})


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
