"""The ONNX path of the repository: the onnxruntime configs against their graphs (offline),
and the same graphs served by the real Triton through the python backend."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from inference.device import Placement
from inference.ocr_server.detectors.craft_onnx import CraftOnnxDetector
from inference.ocr_server.ort.choice import CPU_DEFAULT
from inference.ocr_server.recognizers.crnn_onnx import CrnnOnnxRecognizer
from tests.inference.ocr.pages import render_page
from tests.triton import media
from tests.triton.conftest import OCR_CANVAS, ONNX_CRAFT, ONNX_CRNN
from tests.triton.server import TritonServer
from tests.triton.test_models import infer, text_of
from triton_models.onnx_check import check_onnx_model, parse_config
from triton_models.repository import ONNX_FILE, exported_graph

CPU = Placement("cpu", False)


def unload(triton: TritonServer, model: str) -> None:
    """Unload ``model`` and wait until the server is ready again (strict readiness counts
    a version still unloading), so later tests find the server as they expect it."""
    with triton.client() as client:
        client.unload_model(model)
    deadline = time.monotonic() + 120
    while httpx.get(f"{triton.base}/v2/health/ready").status_code != 200:
        assert time.monotonic() < deadline, triton.log_tail()
        time.sleep(0.5)


@pytest.fixture(scope="module")
def placed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The production (KIND_GPU) onnxruntime models, placed by the repository CLI."""
    repository = tmp_path_factory.mktemp("onnx_repository")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "triton_models.repository",
            str(repository),
            "craft_onnx",
            "crnn_onnx",
        ],
        check=True,
        capture_output=True,
    )
    return repository


@pytest.mark.parametrize(("model", "graph"), [("craft_onnx", "craft"), ("crnn_onnx", "crnn")])
def test_onnxruntime_configs_match_the_exported_graphs(
    placed: Path, model: str, graph: str
) -> None:
    folder = placed / model
    assert check_onnx_model(folder) == []
    config = parse_config((folder / "config.pbtxt").read_text())
    assert config.instance_group[0].kind == config.instance_group[0].KIND_GPU
    # The very file the OCR server's engine runs (float32 on GPU nodes).
    assert (folder / "1" / ONNX_FILE).read_bytes() == exported_graph(graph).read_bytes()


def test_a_config_that_disagrees_with_its_graph_is_reported(placed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "crnn_onnx"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / ONNX_FILE).write_bytes((placed / "crnn_onnx" / "1" / ONNX_FILE).read_bytes())
    text = (placed / "crnn_onnx" / "config.pbtxt").read_text()
    broken = text.replace('name: "lines"', 'name: "image"').replace("[ -1, 97 ]", "[ -1, 96 ]")
    broken = broken.replace('name : "tensorrt"', 'name : "openvino"')
    (folder / "config.pbtxt").write_text(broken)
    problems = " | ".join(check_onnx_model(folder))
    assert "inputs ['image'] != graph ['lines']" in problems
    assert "dims [-1, 96]" in problems
    assert "TensorRT" in problems


def test_python_backend_reads_lines_with_the_onnx_graph(triton: TritonServer) -> None:
    triton.load(ONNX_CRNN)
    local = CrnnOnnxRecognizer(
        exported_graph("crnn", CPU_DEFAULT["crnn"]), CPU, precision=CPU_DEFAULT["crnn"]
    )
    for text in media.LINES[:4]:
        crop = media.line_crop(text)
        out = infer(triton, ONNX_CRNN, IMAGE=crop[np.newaxis])
        assert text_of(out["TEXT"]) == text == local.recognize([crop])[0].text
    unload(triton, ONNX_CRNN)


def test_python_backend_detects_with_the_onnx_graph(triton: TritonServer) -> None:
    triton.load(ONNX_CRAFT)
    page = np.asarray(render_page("Two short lines.|And a second paragraph.", width=400).image)
    out = infer(triton, ONNX_CRAFT, IMAGE=page[np.newaxis])
    local = CraftOnnxDetector(
        exported_graph("craft", CPU_DEFAULT["craft"]),
        CPU,
        precision=CPU_DEFAULT["craft"],
        canvas_size=int(OCR_CANVAS),
    ).detect([page])[0]
    unload(triton, ONNX_CRAFT)
    boxes = out["BOXES"][0]
    assert len(boxes) == len(local) >= 6
    assert np.abs(np.sort(boxes.reshape(-1)) - np.sort(np.stack(local).reshape(-1))).max() < 1.0
