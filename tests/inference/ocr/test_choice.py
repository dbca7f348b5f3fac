"""What ``auto`` engines and precisions resolve to, per device and CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.device import Placement
from inference.ocr_server.ort import choice

CPU = Placement("cpu", False)
CUDA = Placement("cuda", True)


@pytest.mark.parametrize(
    ("engine", "precision", "expected"),
    [
        ("auto", "fp32", ("craft-onnx", "fp32")),
        ("auto", "int8", ("craft-onnx", "int8")),
        ("auto", "bf16", ("craft", "bf16")),  # asked for: torch is the bf16 engine
        ("auto", "winograd", ("craft", "winograd")),  # and the Winograd one
        ("craft", "auto", ("craft", "auto")),  # torch at the placement's precision
        ("craft-onnx", "auto", ("craft-onnx", "auto")),
        ("triton", "auto", ("triton", "auto")),
    ],
)
def test_named_detector_settings_on_a_cpu(
    engine: str, precision: str, expected: tuple[str, str]
) -> None:
    assert choice.resolve_detector(engine, precision, CPU) == expected


def test_cuda_never_takes_a_cpu_default() -> None:
    assert choice.detector_candidates("auto", "auto", CUDA) == []
    engine, precision = choice.resolve_detector("auto", "auto", CUDA)
    assert precision == "auto"
    assert engine == ("craft-onnx" if choice.onnx_usable(CUDA) else "craft")
    assert choice.resolve_precision("craft", "auto", CUDA) == "fp32"


def test_graph_precisions() -> None:
    assert choice.resolve_precision("crnn", "auto", CPU) == "int8"
    assert choice.resolve_precision("craft", "auto", CPU) == "fp32"
    assert choice.resolve_precision("crnn", "int8-backbone", CPU) == "int8"
    for precision in ("bf16", "winograd"):
        with pytest.raises(ValueError, match="torch precision"):
            choice.resolve_precision("craft", precision, CPU)


def test_the_bf16_probe_answers_and_honours_the_isa_caps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(choice.cpu_has_bf16(), bool)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # an emulated AVX2 CPU
    assert not choice.cpu_has_bf16()


@pytest.mark.parametrize("bf16", [True, False])
@pytest.mark.parametrize("winograd", [True, False])
def test_auto_on_a_cpu_is_measured_between_the_checked_candidates(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, winograd: bool
) -> None:
    from inference.ocr_server.detectors import nnpack

    monkeypatch.setattr(choice, "cpu_has_bf16", lambda: bf16)
    monkeypatch.setattr(nnpack, "available", lambda: winograd)
    expected = [("craft-onnx", "fp32")] + ([("craft", "bf16")] if bf16 else [])
    expected += [("craft", "winograd")] if winograd else []
    assert choice.detector_candidates("auto", "auto", CPU) == expected
    # Anything named, or a GPU, leaves nothing to measure.
    assert choice.detector_candidates("craft-onnx", "auto", CPU) == []
    assert choice.detector_candidates("auto", "fp32", CPU) == []
    assert choice.detector_candidates("auto", "auto", CUDA) == []


def test_the_detector_is_chosen_by_measurement_and_cached(tmp_path: Path) -> None:
    from inference.ocr_server.detectors import create_detector
    from inference.ocr_server.settings import OcrSettings

    def settings(**detector: object) -> OcrSettings:
        return OcrSettings(detector={"canvas_size": 640, **detector}, tuning_dir=tmp_path)  # type: ignore[arg-type]

    first = create_detector(settings(), CPU).describe()
    made = first["choice"]
    assert isinstance(made, dict)
    candidates = choice.detector_candidates("auto", "auto", CPU)
    if len(candidates) == 1:  # one candidate: nothing to time, the choice still shows
        assert (made["engine"], made["source"]) == ("craft-onnx:fp32", "only")
        assert first["engine"] == "onnx-fp32"
        return
    assert made["source"] == "measured"
    assert set(made["seconds"]) == {f"{engine}:{precision}" for engine, precision in candidates}
    assert made["engine"] == min(made["seconds"], key=made["seconds"].get)
    engine = {
        "craft-onnx:fp32": "onnx-fp32",
        "craft:bf16": "torch-bf16",
        "craft:winograd": "torch-winograd",
    }[made["engine"]]
    assert first["engine"] == engine
    again = create_detector(settings(), CPU).describe()
    assert again["choice"] == {**made, "source": "cached"}
    assert again["engine"] == engine
    named = create_detector(settings(engine="craft-onnx"), CPU).describe()
    assert "choice" not in named
    assert named["engine"] == "onnx-fp32"
