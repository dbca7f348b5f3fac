"""What ``auto`` engines and precisions resolve to, per device and CPU."""

from __future__ import annotations

import pytest

from inference.device import Placement
from inference.ocr_server.ort import choice

CPU = Placement("cpu", False)
CUDA = Placement("cuda", True)


@pytest.mark.parametrize(
    ("amx", "engine", "precision", "expected"),
    [
        (True, "auto", "auto", ("craft", "bf16")),  # the AMX CPU default
        (False, "auto", "auto", ("craft-onnx", "auto")),  # float32 graph elsewhere
        (True, "auto", "fp32", ("craft-onnx", "fp32")),
        (True, "auto", "int8", ("craft-onnx", "int8")),
        (False, "auto", "bf16", ("craft", "bf16")),  # asked for: torch is the bf16 engine
        (True, "craft", "auto", ("craft", "auto")),  # torch at the placement's precision
        (True, "craft-onnx", "auto", ("craft-onnx", "auto")),
        (True, "triton", "auto", ("triton", "auto")),
    ],
)
def test_detector_choice_on_a_cpu(
    monkeypatch: pytest.MonkeyPatch,
    amx: bool,
    engine: str,
    precision: str,
    expected: tuple[str, str],
) -> None:
    monkeypatch.setattr(choice, "cpu_has_amx", lambda: amx)
    assert choice.resolve_detector(engine, precision, CPU) == expected


def test_cuda_never_takes_the_cpu_bf16_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "cpu_has_amx", lambda: True)
    engine, precision = choice.resolve_detector("auto", "auto", CUDA)
    assert precision == "auto"
    assert engine == ("craft-onnx" if choice.onnx_usable(CUDA) else "craft")
    assert choice.resolve_precision("craft", "auto", CUDA) == "fp32"


def test_graph_precisions() -> None:
    assert choice.resolve_precision("crnn", "auto", CPU) == "int8"
    assert choice.resolve_precision("craft", "auto", CPU) == "fp32"
    assert choice.resolve_precision("crnn", "int8-backbone", CPU) == "int8"
    with pytest.raises(ValueError, match="torch precision"):
        choice.resolve_precision("craft", "bf16", CPU)


def test_the_amx_probe_answers() -> None:
    assert isinstance(choice.cpu_has_amx(), bool)
