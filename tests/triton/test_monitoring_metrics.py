"""Every metric the alert rules and the Grafana dashboard name is one that the services
really export: read from ``/metrics`` of a running worker, ASR service, OCR service and
tritonserver (the session's, with a model loaded and asked once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.deploy.monitoring import exported_names, used_metric_names
from tests.support.fake_llm import FakeLLM
from tests.support.mission_worker import mission_worker
from tests.support.services import free_port, require_service, running_process
from tests.triton import media
from tests.triton.server import TritonServer

REDIS_DB = 8  # this module's own database (tests/conftest.py lists the others)


def service(stack: ExitStack, module: str, prefix: str, log: Path, **env: str) -> str:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port), **env}
    stack.enter_context(
        running_process(
            ["python", "-m", module], env=full_env, ready_url=f"{base}/readyz", log_path=log
        )
    )
    return base


@pytest.fixture(scope="module")
def pages(
    triton: TritonServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The /metrics text of each running service, by name."""
    require_service("Redis", "127.0.0.1", 6379)
    import tritonclient.http as httpclient

    triton.load("crnn")
    crop = media.line_crop("metrics")
    with triton.client() as client:
        image = httpclient.InferInput("IMAGE", [1, *crop.shape], "UINT8")
        image.set_data_from_numpy(crop[np.newaxis])
        client.infer("crnn", [image])
    logs = tmp_path_factory.mktemp("monitoring")
    with ExitStack() as stack:
        llm = stack.enter_context(FakeLLM())
        worker = stack.enter_context(mission_worker(logs, REDIS_DB, llm))
        asr = service(
            stack,
            "inference.asr_server",
            "ASR",
            logs / "asr.log",
            ASR_DEVICE="cpu",
            ASR_COMPUTE_TYPE="int8",
            ASR_CPU_THREADS="1",
        )
        ocr = service(
            stack,
            "inference.ocr_server",
            "OCR",
            logs / "ocr.log",
            OCR_DEVICE="cpu",
            OCR_DETECTOR__CANVAS_SIZE="640",
        )
        urls = {
            "worker": f"{worker.metrics_url}/metrics",
            "asr": f"{asr}/metrics",
            "ocr": f"{ocr}/metrics",
            "triton": f"http://127.0.0.1:{triton.metrics_port}/metrics",
        }
        yield {name: httpx.get(url, timeout=30).text for name, url in urls.items()}


def test_every_metric_in_the_rules_and_dashboard_is_exported(pages: dict[str, str]) -> None:
    exported = set().union(*(exported_names(text) for text in pages.values()))
    used = used_metric_names()
    missing = {name: sorted(where) for name, where in used.items() if name not in exported}
    assert not missing, f"named in rules or dashboard but exported by no service: {missing}"
    # Each service contributes: the rules are not written against one of them only.
    for name, text in pages.items():
        assert exported_names(text) & set(used), f"{name} exports nothing the rules use"


def test_the_worker_exports_backlog_heartbeat_and_broker_reachability(
    pages: dict[str, str],
) -> None:
    worker = pages["worker"]
    assert 'studysavvy_worker_queue_length{queue="celery"} 0.0' in worker
    assert "studysavvy_worker_broker_up 1.0" in worker
    ages = [
        float(line.split()[-1])
        for line in worker.splitlines()
        if line.startswith("studysavvy_worker_consumer_heartbeat_age_seconds ")
    ]
    assert len(ages) == 1
    assert 0 <= ages[0] < 30  # an idle consumer beats on every one-second BRPOP reply
    for name in ("asr", "ocr"):
        assert "inference_model_ready 1.0" in pages[name], name
