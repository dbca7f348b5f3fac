"""Hot swap of a model that runs an ONNX graph: version 2 is a folder with a new model.onnx.

Needs a re-check after the staged-verification change to triton_models/swap.py (issue 14).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.ocr_server.ort.cache import onnx_model
from tests.triton import media
from tests.triton.server import TritonServer
from tests.triton.test_models import infer, text_of
from tests.triton.test_onnx_models import unload
from triton_models import swap
from triton_models.repository import ONNX_FILE, exported_graph, write_model

MODEL = "crnn_ort_swap"


@pytest.mark.timeout(300)
def test_an_onnx_model_swaps_to_a_new_graph(triton: TritonServer, tmp_path: Path) -> None:
    write_model(
        triton.repository,
        "crnn",
        name=MODEL,
        kind="KIND_CPU",
        onnx=exported_graph("crnn"),
        parameters={"engine": "onnx", "precision": "fp32"},
    )
    triton.load(MODEL)
    crop = media.line_crop("over the lazy dog")
    before = infer(triton, MODEL, IMAGE=crop[np.newaxis])
    assert text_of(before["TEXT"]) == "over the lazy dog"

    # Version 2: version 1's folder (model.py) with the graph exported from other
    # (random) weights of the same network.
    weights = media.random_crnn(tmp_path / "weights", seed=2) / "english_g2.pth"
    source = tmp_path / "v2"
    shutil.copytree(triton.repository / MODEL / "1", source)
    graph = onnx_model("crnn", weights, "fp32", tmp_path / "cache")
    (source / ONNX_FILE).write_bytes(graph.read_bytes())
    with triton.client(network_timeout=300.0, connection_timeout=300.0) as admin:
        assert swap.swap(admin, triton.repository, MODEL, 2, source=source) == [1]
        assert swap.served_versions(admin, MODEL) == [2]
    after = infer(triton, MODEL, IMAGE=crop[np.newaxis])
    assert text_of(after["TEXT"]) != "over the lazy dog"
    assert (triton.repository / MODEL / "2" / ONNX_FILE).read_bytes() == graph.read_bytes()
    unload(triton, MODEL)
