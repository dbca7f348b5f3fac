"""`make lint` in the test run, so CI refuses code that ruff or mypy would refuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import REPO

BIN = Path(sys.executable).parent
TYPED = ["worker", "inference", "triton_models", "demo", "bench"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", *TYPED],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_lint_is_clean(command: list[str]) -> None:
    done = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
