"""Device and precision choice: CUDA with half precision when present, else CPU float32."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda"
    half: bool  # float16 weights and activations

    @property
    def torch_dtype_name(self) -> str:
        return "float16" if self.half else "float32"


def choose_placement(preference: Literal["auto", "cpu", "cuda"] = "auto") -> Placement:
    """Resolve ``auto`` to CUDA+fp16 when a GPU is visible; ``cuda`` without one is an error."""
    import torch

    has_cuda = torch.cuda.is_available()
    if preference == "cuda" and not has_cuda:
        raise RuntimeError("device=cuda was requested but no CUDA device is visible")
    if preference == "cpu" or not has_cuda:
        return Placement(device="cpu", half=False)
    return Placement(device="cuda", half=True)
