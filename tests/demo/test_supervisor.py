"""The process supervisor: whole process groups go, on normal exit and on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo.supervisor import ChildFailed, Supervisor

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes; /proc tells it apart from a running process.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _grandchild_pid(pidfile: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip():
            return int(pidfile.read_text())
        time.sleep(0.05)
    raise TimeoutError("the grandchild never wrote its pid")


def test_stop_all_kills_grandchildren_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # The shell ignores SIGTERM, and its background child would outlive a plain terminate().
    script = f"trap '' TERM; sleep 300 & echo $! > {pidfile}; wait"
    with Supervisor(tmp_path / "logs", stop_timeout=1.0) as supervisor:
        child = supervisor.start("shell", ["sh", "-c", script], {})
        grandchild = _grandchild_pid(pidfile)
        assert _alive(child.proc.pid)
        assert _alive(grandchild)
    assert not _alive(child.proc.pid)
    assert not _alive(grandchild)


def test_a_dead_child_is_reported_with_its_log(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        child = supervisor.start("broken", ["sh", "-c", "echo boom-reason; exit 3"], {})
        child.proc.wait()
        with pytest.raises(ChildFailed, match="boom-reason"):
            supervisor.check_all()


def test_sigterm_to_the_demo_process_leaves_no_orphans(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    program = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from demo.supervisor import Supervisor\n"
        f"with Supervisor(Path({str(tmp_path / 'logs')!r})) as s:\n"
        "    c = s.start('sleeper', ['sleep', '300'], {})\n"
        f"    Path({str(pidfile)!r}).write_text(str(c.proc.pid))\n"
        "    time.sleep(300)\n"
    )
    demo = subprocess.Popen([sys.executable, "-c", program], cwd=REPO)
    try:
        sleeper = _grandchild_pid(pidfile)
        assert _alive(sleeper)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if demo.poll() is None:
            demo.kill()
    assert not _alive(sleeper)
