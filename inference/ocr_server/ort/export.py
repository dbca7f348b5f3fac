"""torch -> ONNX for CRAFT and the CRNN: dynamic batch, height and width; deterministic.

The graphs are the torch modules of ``craft_net`` / ``crnn_net`` unchanged (the CRNN with
its softmax folded in), exported with the TorchScript exporter at a fixed opset, so the
same weights give the same bytes on every machine with the same torch.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import torch
from torch import nn

from inference.ocr_server.detectors.craft_net import load_craft
from inference.ocr_server.ort.graphs import (
    CRAFT_INPUT,
    CRAFT_OUTPUT,
    CRNN_INPUT,
    CRNN_OUTPUT,
    OPSET,
    Model,
)
from inference.ocr_server.recognizers.crnn_net import LINE_HEIGHT, load_crnn

log = logging.getLogger(__name__)


class _CrnnProbabilities(nn.Module):
    """The CRNN with its softmax: (N, 1, 64, W) in [-1, 1] -> (N, T, 97) probabilities."""

    def __init__(self, crnn: nn.Module) -> None:
        super().__init__()
        self.crnn = crnn

    def forward(self, lines: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.crnn(lines), dim=2)


def export_onnx(model: Model, weights: Path) -> bytes:
    """The serialized float32 ONNX graph of ``model`` with ``weights``."""
    module: nn.Module
    if model == "craft":
        module = load_craft(weights)
        example = torch.zeros(1, 3, 320, 320)
        names = ([CRAFT_INPUT], [CRAFT_OUTPUT])
        axes = {
            CRAFT_INPUT: {0: "batch", 2: "height", 3: "width"},
            CRAFT_OUTPUT: {0: "batch", 1: "map_height", 2: "map_width"},
        }
    elif model == "crnn":
        module = _CrnnProbabilities(load_crnn(weights)).eval()
        example = torch.zeros(2, 1, LINE_HEIGHT, 256)
        names = ([CRNN_INPUT], [CRNN_OUTPUT])
        axes = {CRNN_INPUT: {0: "batch", 3: "width"}, CRNN_OUTPUT: {0: "batch", 1: "steps"}}
    else:
        raise ValueError(f"unknown model {model!r}")
    buffer = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object is accepted too
            input_names=names[0],
            output_names=names[1],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()
