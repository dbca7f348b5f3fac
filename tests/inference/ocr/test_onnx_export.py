"""The ONNX export: deterministic, cached by the weights' hash, re-exported when they change,
and chosen by default on a CPU."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.device import Placement, cpu_has_bf16
from inference.ocr_server.detectors import create_detector
from inference.ocr_server.ort.cache import cache_path, onnx_model
from inference.ocr_server.ort.choice import CPU_DEFAULT, detector_candidates
from inference.ocr_server.ort.export import export_onnx
from inference.ocr_server.recognizers import create_recognizer
from inference.ocr_server.settings import OcrSettings, packaged_weights

CPU = Placement("cpu", False)
CRNN = packaged_weights("english_g2.pth")


def exports(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == "onnx model exported" for r in caplog.records)


def test_export_is_deterministic() -> None:
    assert export_onnx("crnn", CRNN) == export_onnx("crnn", CRNN)


def test_int8_calibration_is_deterministic(tmp_path: Path) -> None:
    first = onnx_model("crnn", CRNN, "int8", tmp_path / "a").read_bytes()
    second = onnx_model("crnn", CRNN, "int8", tmp_path / "b").read_bytes()
    assert first == second
    assert b"QuantizeLinear" in first


def _weight_range(graph: Path) -> int:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(graph))
    ints = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == 3]
    return max(int(np.abs(w.astype(np.int32)).max()) for w in ints if w.size > 16)


def test_int8_graphs_keep_7_bit_weights_on_a_cpu_without_vnni(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AVX2's uint8 x int8 kernels sum pairs in int16 and saturate: a CPU without VNNI or
    AMX gets its own graph (named r7) whose weights stay within 7 bits."""
    from inference import device, tuning

    monkeypatch.setattr(tuning, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not device.cpu_has_int8_dot()
    avx2 = onnx_model("crnn", CRNN, "int8", tmp_path)
    monkeypatch.setattr(tuning, "cpu_flags", lambda: frozenset({"avx2", "avx512_vnni"}))
    assert device.cpu_has_int8_dot()
    vnni = onnx_model("crnn", CRNN, "int8", tmp_path)
    assert avx2.name.endswith("-r7-int8.onnx")
    assert vnni.name == avx2.name.replace("-r7", "")
    assert _weight_range(avx2) <= 64 < _weight_range(vnni) <= 127


def test_a_second_start_opens_the_cache_and_new_weights_export_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="inference.ocr_server.ort.cache")
    settings = OcrSettings(
        recognizer={"engine": "crnn-onnx", "precision": "fp32"},  # type: ignore[arg-type]
        onnx={"cache_dir": tmp_path / "cache"},  # type: ignore[arg-type]
    )
    first = create_recognizer(settings, CPU)
    assert exports(caplog) == 1
    graph = cache_path("crnn", CRNN, "fp32", tmp_path / "cache")
    written = graph.stat().st_mtime_ns
    second = create_recognizer(settings, CPU)
    assert exports(caplog) == 1  # the second start exported nothing
    assert graph.stat().st_mtime_ns == written
    assert second.describe()["onnx"] == first.describe()["onnx"] == graph.name

    # Changed weights (one tensor nudged) are another file, exported anew.
    state = torch.load(CRNN, weights_only=True, map_location="cpu")
    key = next(k for k in state if k.endswith("Prediction.bias"))
    state[key] = state[key] + 0.5
    changed = tmp_path / "english_g2.pth"
    torch.save(state, changed)
    moved = settings.model_copy(
        update={"recognizer": settings.recognizer.model_copy(update={"crnn_weights": changed})}
    )
    third = create_recognizer(moved, CPU)
    assert exports(caplog) == 2
    assert third.describe()["onnx"] != graph.name
    assert sorted(p.name for p in (tmp_path / "cache").glob("*.onnx")) == sorted(
        [graph.name, str(third.describe()["onnx"])]
    )


def test_the_cpu_defaults() -> None:
    """The CRAFT measured fastest here among this CPU's candidates (the float32 ONNX graph;
    torch bf16 where the CPU has bfloat16; torch Winograd where NNPACK runs); the int8
    ONNX CRNN."""
    settings = OcrSettings()
    detector = create_detector(settings, CPU)
    recognizer = create_recognizer(settings, CPU)
    described = detector.describe()
    made = described["choice"]
    assert isinstance(made, dict)
    engine = {
        f"craft-onnx:{CPU_DEFAULT['craft']}": "onnx-fp32",
        "craft:bf16": "torch-bf16",
        "craft:winograd": "torch-winograd",
    }
    assert described["engine"] == engine[made["engine"]]
    eligible = {f"{e}:{p}" for e, p in detector_candidates("auto", "auto", CPU)}
    assert ("craft:bf16" in eligible) == cpu_has_bf16()
    assert made["engine"] in eligible
    seconds = made["seconds"]
    assert isinstance(seconds, dict)
    if made["source"] in ("measured", "cached"):  # every candidate timed, the fastest kept
        assert set(seconds) == eligible
        assert seconds[made["engine"]] == min(seconds.values())
    assert recognizer.describe()["engine"] == f"onnx-{CPU_DEFAULT['crnn']}" == "onnx-int8"
    assert recognizer.describe()["providers"] == ["CPUExecutionProvider"]
    # Any page size and batch: two pages of different sizes in one call.
    pages = [np.full((200, 300, 3), 255, np.uint8), np.full((333, 157, 3), 255, np.uint8)]
    assert detector.detect(pages) == [[], []]


def test_cuda_without_a_cuda_provider_is_a_clear_error() -> None:
    from inference.errors import ModelNotReady
    from inference.ocr_server.ort.session import providers

    with pytest.raises(ModelNotReady, match="onnxruntime-gpu"):
        providers(Placement("cuda", True), Path("/tmp/model.onnx"))
