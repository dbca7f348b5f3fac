"""Static int8 (QDQ) quantization of the exported graphs, calibrated on rendered pages.

Activations uint8 (asymmetric: most are ReLU outputs), weights int8 per channel, MinMax
ranges over the calibration pages of :mod:`calibration`. On a CPU without VNNI (AVX2
only) the weights keep 7 bits (``reduce_range``): ONNX Runtime's AVX2 kernels add pairs
of uint8 x int8 products in int16, which saturates with full-range weights (a fine-tuned
CRNN read at CER 0.204 against torch's 0.192 on a Zen 3 EPYC; 0.187 with 7 bits).
``int8-backbone`` keeps CRAFT's U-net head (``upconv*``, ``conv_cls``) in float32: the
score maps' thresholds sit in the head's output range, where int8 steps are coarsest. For
the CRNN only the convolutions and the linear layers are quantized; its LSTMs stay
float32 (no static QDQ kernel for them).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference.ocr_server.ort.cache import Precision
from inference.ocr_server.ort.graphs import CRAFT_INPUT, CRNN_INPUT, Model

HEAD_PREFIXES = ("/upconv", "/conv_cls")


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over an iterator of inputs."""

    def __init__(self, name: str, inputs: Iterator[npt.NDArray[np.float32]]) -> None:
        self._name = name
        self._inputs = inputs

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        item = next(self._inputs, None)
        return None if item is None else {self._name: item}


def quantize(
    model: Model, fp32_path: Path, precision: Precision, *, reduce_range: bool = False
) -> bytes:
    """The int8 graph's bytes (deterministic for the same float graph, pages and range)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from inference.ocr_server.ort import calibration

    if model == "craft":
        reader = _Reader(CRAFT_INPUT, calibration.craft_inputs())
        op_types = ["Conv", "Relu", "MaxPool", "Concat", "Resize"]
    else:
        reader = _Reader(CRNN_INPUT, calibration.crnn_inputs())
        op_types = ["Conv", "Relu", "MaxPool", "MatMul", "Gemm"]
    with tempfile.TemporaryDirectory(prefix="onnx-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=False)
        graph = onnx.load(str(prepared)).graph
        excluded = []
        if precision == "int8-backbone" and model == "craft":
            excluded = [node.name for node in graph.node if node.name.startswith(HEAD_PREFIXES)]
        output = Path(tmp) / "int8.onnx"
        quantize_static(
            str(prepared),
            str(output),
            reader,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=op_types,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=CalibrationMethod.MinMax,
        )
        return output.read_bytes()
