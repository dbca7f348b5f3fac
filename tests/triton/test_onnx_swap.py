"""Hot swap of a model that runs an ONNX graph, through the checked swap (staged first).

Version 2 is the int8 graph of the same packaged weights (what an ML engineer ships to
make the CPU path faster) with its smoke check: it passes and takes over. Version 3 is a
graph that loads but reads nonsense (other weights): its check refuses it, and version 2
keeps serving.
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
from tests.triton.test_swap import shipped
from triton_models import swap
from triton_models.repository import ONNX_FILE, exported_graph, write_model

MODEL = "crnn_ort_swap"
TEXT = "over the lazy dog"


def version_with_graph(triton: TritonServer, folder: Path, graph: Path) -> Path:
    """Version 1's model code beside a new model.onnx and the check it ships with."""
    source = shipped(folder, media.line_crop(TEXT), TEXT)
    for item in (triton.repository / MODEL / "1").iterdir():
        if item.is_file() and item.name != ONNX_FILE:
            shutil.copy2(item, source / item.name)
    (source / ONNX_FILE).write_bytes(graph.read_bytes())
    return source


@pytest.mark.timeout(420)
def test_an_onnx_model_swaps_to_a_checked_graph_and_refuses_a_wrong_one(
    triton: TritonServer, tmp_path: Path
) -> None:
    write_model(
        triton.repository,
        "crnn",
        name=MODEL,
        kind="KIND_CPU",
        onnx=exported_graph("crnn"),
        parameters={"engine": "onnx", "precision": "fp32"},
    )
    triton.load(MODEL)
    crop = media.line_crop(TEXT)
    assert text_of(infer(triton, MODEL, IMAGE=crop[np.newaxis])["TEXT"]) == TEXT

    int8 = exported_graph("crnn", "int8")
    wrong_weights = media.random_crnn(tmp_path / "weights", seed=2) / "english_g2.pth"
    wrong = onnx_model("crnn", wrong_weights, "fp32", tmp_path / "cache")
    with triton.client(network_timeout=300.0, connection_timeout=300.0) as admin:
        v2 = version_with_graph(triton, tmp_path / "v2", int8)
        assert swap.swap(admin, triton.repository, MODEL, 2, source=v2) == [1]
        assert swap.served_versions(admin, MODEL) == [2]
        assert (triton.repository / MODEL / "2" / ONNX_FILE).read_bytes() == int8.read_bytes()
        assert text_of(infer(triton, MODEL, IMAGE=crop[np.newaxis])["TEXT"]) == TEXT

        v3 = version_with_graph(triton, tmp_path / "v3", wrong)
        with pytest.raises(swap.SwapError, match="answered wrongly"):
            swap.swap(admin, triton.repository, MODEL, 3, source=v3)
        assert swap.served_versions(admin, MODEL) == [2]
    assert text_of(infer(triton, MODEL, IMAGE=crop[np.newaxis])["TEXT"]) == TEXT
    unload(triton, MODEL)
