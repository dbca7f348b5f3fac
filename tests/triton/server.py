"""A real tritonserver for the tests: unpacked by scripts/triton_local.sh, started by
scripts/triton_start.sh on free ports with explicit model control."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import IN_CI, REPO, free_port, running_process

TOOLS_STAMP = REPO / ".tools" / "pytriton-0.7.0" / ".ready"


def ensure_triton_local() -> None:
    """Run the (idempotent) setup when needed; a failure fails under CI, skips elsewhere."""
    if TOOLS_STAMP.exists():
        return
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "triton_local.sh")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not TOOLS_STAMP.exists():
        message = f"`make triton-local` failed: {done.stderr[-2000:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class TritonServer:
    http_port: int
    grpc_port: int
    metrics_port: int
    repository: Path
    weights: Path
    log: Path

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def base(self) -> str:
        return f"http://{self.url}"

    def client(self, **kwargs: Any) -> Any:
        import tritonclient.http as httpclient

        return httpclient.InferenceServerClient(self.url, **kwargs)

    def load(self, model: str, config: str | None = None) -> None:
        with self.client(network_timeout=600.0, connection_timeout=600.0) as client:
            client.load_model(model, config=config)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@contextmanager
def start_triton(
    repository: Path, weights: Path, log: Path, extra_args: Sequence[str] = ()
) -> Iterator[TritonServer]:
    ensure_triton_local()
    server = TritonServer(free_port(), free_port(), free_port(), repository, weights, log)
    args = [
        "bash",
        str(REPO / "scripts" / "triton_start.sh"),
        "--repository",
        str(repository),
        "--http-port",
        str(server.http_port),
        "--grpc-port",
        str(server.grpc_port),
        "--metrics-port",
        str(server.metrics_port),
        "--",
        *extra_args,
    ]
    env = {"TRITON_MODELS_WEIGHTS_ROOT": str(weights), "OMP_NUM_THREADS": "1"}
    with running_process(args, env=env, ready_url=f"{server.base}/v2/health/ready", log_path=log):
        yield server
