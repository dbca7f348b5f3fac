"""What the exported graphs look like from outside: opset, tensor names, model names.

The Triton onnxruntime configs (triton_models/) use the same names.
"""

from __future__ import annotations

from typing import Literal

Model = Literal["craft", "crnn"]
MODELS: tuple[Model, ...] = ("craft", "crnn")
OPSET = 17
# CRAFT: (N, 3, H, W) normalised float32 page -> (N, H/2, W/2, 2) region and affinity.
CRAFT_INPUT, CRAFT_OUTPUT = "image", "scores"
# CRNN: (N, 1, 64, W) grey lines in [-1, 1] -> (N, W/4 - 1, 97) class probabilities.
CRNN_INPUT, CRNN_OUTPUT = "lines", "probabilities"
