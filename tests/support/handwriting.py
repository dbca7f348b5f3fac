"""The handwriting loop at toy size, run as an ML engineer runs it: the training CLI in
subprocesses. Training is killed (SIGKILL) once its first checkpoint is written and run
again with the same command, which resumes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TRAINING = [sys.executable, "-m", "inference.ocr_server.training"]
TRAIN_LINES = 240
VAL_LINES = 48
EPOCHS = 3


@dataclass(frozen=True)
class ToyRun:
    data: Path
    out: Path
    killed_after_epoch: int
    resumed_log: str

    @property
    def weights(self) -> Path:
        return self.out / "best.pth"

    @property
    def val(self) -> Path:
        return self.data / "val"


def cli(*args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRAINING, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def train_args(data: Path, out: Path) -> list[str]:
    return [
        *TRAINING, "train", "--train", str(data / "train"), "--val", str(data / "val"),
        "--out", str(out), "--epochs", str(EPOCHS), "--batch-size", "16", "--lr", "3e-4",
        "--seed", "7",
    ]  # fmt: skip


def _kill_after_first_checkpoint(command: list[str], out: Path, log: Path) -> int:
    """Start training, SIGKILL it once checkpoint.pt exists; the epoch it holds."""
    import torch

    with log.open("w") as stream:
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        checkpoint = out / "checkpoint.pt"
        while not checkpoint.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(
                    f"training ended before a checkpoint: {log.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        time.sleep(1.0)  # into the next epoch
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return int(state["epoch"])


def toy_run(root: Path) -> ToyRun:
    data, out = root / "data", root / "run"
    made = cli(
        "synth", "--out", str(data), "--train-lines", str(TRAIN_LINES),
        "--val-lines", str(VAL_LINES), "--seed", "3",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    command = train_args(data, out)
    killed_after = _kill_after_first_checkpoint(command, out, root / "killed.log")
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return ToyRun(data, out, killed_after, resumed.stderr + resumed.stdout)
