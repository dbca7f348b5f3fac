"""Whisper's encoder in PyTorch (bfloat16 or float32), read from a CTranslate2 model.

CTranslate2 has no bfloat16 on a CPU, and its int8 encoder is no faster than float32 here
(tiny.en, one thread, 30 s window: 0.85 s int8, 0.84 s float32). PyTorch runs the same
weights in bfloat16 on the AMX tiles of recent Xeons: 0.17 to 0.30 s a window, and closer
to the float32 result than CTranslate2's int8 (relative error 1.7 % against 5.4 %). The
encoder is half of the model's time on a lecture, so the engine encodes here and hands the
states to CTranslate2, whose ``generate`` and ``align`` take encoded features as they are.
On an AVX-512 BF16 CPU without AMX it gains less (0.32 s against 0.39 s a window on an
EPYC), so ``auto`` times both where it can run (engines/encoder_choice.py).

In float32 it is a candidate on every CPU: on a Zen 3 EPYC with AVX2 only, one thread,
four 30 s windows one at a time took 2.2 to 2.4 s against 2.7 s for CTranslate2's int8
(its GEMMs at ~83 GFLOP/s, near that core's float32 peak, and the attention fused), and
it is the exact network (CTranslate2's int8 states are 6 % off float32).

The weights come from the model's own ``model.bin`` (CTranslate2's variable format:
names, shapes, dtypes), so the service still loads one model folder.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any, Literal

import numpy as np

# Windows encoded at once. The attention of 1500 frames is materialised per window: 16 at
# once took 410 MB more and 5.8 s, 4 at a time 193 MB and 3.7 s (one thread, tiny.en). In
# float32 one at a time is the fastest (Zen 3, one thread, 4 windows: 2.2 s, 4 at once 2.6 s).
_SUB_BATCH = {"bf16": 4, "fp32": 1}
Precision = Literal["bf16", "fp32"]
# CTranslate2's DataType enum order (include/ctranslate2/types.h).
_DTYPES: dict[int, Any] = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_encoder_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """The ``encoder/*`` variables of a CTranslate2 Whisper ``model.bin``, as float32."""
    return read_weights(model_dir, "encoder/")


def read_weights(model_dir: Path, prefix: str) -> dict[str, np.ndarray]:
    """The variables under ``prefix`` of a CTranslate2 Whisper ``model.bin``, as float32,
    named without the prefix. A quantized part (int8 weights with their scales) cannot be
    read back as float32 here: ValueError."""
    data = memoryview((model_dir / "model.bin").read_bytes())
    position = 0

    def take(fmt: str) -> int:
        nonlocal position
        (value,) = struct.unpack_from(fmt, data, position)
        position += struct.calcsize(fmt)
        return int(value)

    def text() -> str:
        nonlocal position
        size = take("H")
        value = bytes(data[position : position + size - 1]).decode()
        position += size
        return value

    take("I")  # binary version
    if text() != "WhisperSpec":
        raise ValueError(f"{model_dir} is not a CTranslate2 Whisper model")
    take("I")  # spec revision
    weights: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = text()
        shape = [take("I") for _ in range(take("B"))]
        dtype = _DTYPES.get(take("B"))
        size = take("I")
        if name.startswith(prefix):
            if dtype is None or name.endswith("weight_scale"):
                raise ValueError(f"{name}: a quantized {prefix.strip('/')} cannot be read here")
            count = size // np.dtype(dtype).itemsize
            array = np.frombuffer(data, dtype, count, position).reshape(shape)
            weights[name.removeprefix(prefix)] = array.astype(np.float32)
        position += size
    return weights


class TorchEncoder:
    """``encode(features [batch, mels, 3000]) -> states [batch, 1500, d_model]``."""

    def __init__(self, model_dir: Path, threads: int, precision: Precision = "bf16") -> None:
        import torch

        self.precision = precision
        # Per calling thread: each lane runs its batch on its own share of the cores.
        torch.set_num_threads(threads)
        raw = read_encoder_weights(model_dir)
        self._heads = int(raw.pop("num_heads").reshape(-1)[0])
        self._w = {name: torch.from_numpy(array) for name, array in raw.items()}
        self._layers = len({n.split("/")[0] for n in self._w if re.match(r"layer_\d+/", n)})

    def encode(self, features: np.ndarray) -> np.ndarray:
        import torch

        parts = []
        step = _SUB_BATCH[self.precision]
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, features.shape[0], step):
                chunk = np.ascontiguousarray(features[start : start + step])
                parts.append(self._forward(torch.from_numpy(chunk)).float().numpy())
        result: np.ndarray = np.concatenate(parts)
        return result

    def _forward(self, x: Any) -> Any:
        from torch.nn import functional as f

        w = self._w

        def norm(h: Any, name: str) -> Any:
            return f.layer_norm(h, (h.shape[-1],), w[f"{name}/gamma"], w[f"{name}/beta"], 1e-5)

        def linear(h: Any, name: str) -> Any:
            return f.linear(h, w[f"{name}/weight"], w[f"{name}/bias"])

        x = f.gelu(f.conv1d(x, w["conv1/weight"], w["conv1/bias"], padding=1))
        x = f.gelu(f.conv1d(x, w["conv2/weight"], w["conv2/bias"], stride=2, padding=1))
        x = x.transpose(1, 2) + w["position_encodings/encodings"][: x.shape[2]]
        batch, frames, width = x.shape
        for index in range(self._layers):
            layer = f"layer_{index}"
            h = norm(x, f"{layer}/self_attention/layer_norm")
            qkv = linear(h, f"{layer}/self_attention/linear_0")
            q, k, v = qkv.view(batch, frames, 3, self._heads, width // self._heads).permute(
                2, 0, 3, 1, 4
            )
            attended = f.scaled_dot_product_attention(q, k, v)
            attended = attended.transpose(1, 2).reshape(batch, frames, width)
            x = x + linear(attended, f"{layer}/self_attention/linear_1")
            h = norm(x, f"{layer}/ffn/layer_norm")
            x = x + linear(f.gelu(linear(h, f"{layer}/ffn/linear_0")), f"{layer}/ffn/linear_1")
        return norm(x, "layer_norm")
