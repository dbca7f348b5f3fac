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


# oneDNN's instruction sets with native bfloat16 arithmetic (ONEDNN_MAX_CPU_ISA values).
_BF16_ISAS = frozenset(
    {
        "AVX512_CORE_BF16",
        "AVX512_CORE_FP16",
        "AVX512_CORE_AMX",
        "AVX512_CORE_AMX_FP16",
        "AVX10_1_512",
        "AVX10_1_512_AMX",
        "AVX10_1_512_AMX_FP16",
        "ALL",
        "DEFAULT",
    }
)


def cpu_has_bf16() -> bool:
    """The CPU has bfloat16 instructions (AMX tiles or AVX-512 BF16) and nothing caps the
    libraries below them: bf16 matrix kernels may beat the int8 or float32 ones. Whether
    they do is measured (inference/tuning.py). A cap (``ONEDNN_MAX_CPU_ISA=AVX2``,
    ``ATEN_CPU_CAPABILITY=avx2``) emulates a CPU class without them, where bf16 is
    emulated and never pays."""
    import torch

    from inference.tuning import isa_caps

    caps = isa_caps()
    onednn = (caps["ONEDNN_MAX_CPU_ISA"] or caps["DNNL_MAX_CPU_ISA"] or "ALL").upper()
    if onednn not in _BF16_ISAS:
        return False
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False  # ATEN_CPU_CAPABILITY caps PyTorch's own kernels below AVX-512
    cpu = torch.cpu
    amx = getattr(cpu, "_is_amx_tile_supported", lambda: False)()
    avx = getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
    return bool(amx or avx)


# Instructions that multiply 8-bit integers into 32-bit sums without an int16 step.
_INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_has_int8_dot() -> bool:
    """The CPU multiplies int8 by uint8 straight into int32 sums (VNNI or AMX). Without
    them (AVX2 only) ONNX Runtime's uint8 x int8 kernels add pairs of products in int16,
    which saturates on large weights: int8 graphs for such CPUs are quantized with 7-bit
    weights (``reduce_range``), as ONNX Runtime advises. ONNX Runtime picks its kernels
    from the CPU itself (no ISA cap reaches it), so this reads the CPU's flags only."""
    from inference.tuning import cpu_flags

    return bool(cpu_flags() & _INT8_DOT_FLAGS)
