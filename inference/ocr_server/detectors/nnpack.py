"""3x3 convolutions by Winograd's F(6x6, 3x3) in float32, from the NNPACK inside torch.

PyTorch's x86 wheels link NNPACK into ``libtorch_cpu.so`` and export its C API, but only
reach it for batches of 16 or more (and ``torch._nnpack_spatial_convolution`` neither keeps
the kernel transform nor fuses the ReLU). Called here through ``ctypes``: each layer's
kernel is transformed once at load (``precompute``) and reused on every call, the ReLU is
fused, and the scratch buffer is kept per thread. A Winograd tile computes 36 outputs
with 64 multiplications instead of 324, in float32: CRAFT's score maps stay within 1e-5
of torch's (bfloat16 moves them by up to 0.02). NNPACK needs AVX2 and FMA; where it is
missing or does not initialise, :func:`available` is false and nothing here is used.
"""

from __future__ import annotations

import ctypes
import functools
import math
import threading
from pathlib import Path

import torch
from torch import nn

_ALGORITHM_WT8X8 = 3  # Winograd F(6x6, 3x3) on 8x8 tiles
_PRECOMPUTE, _REUSE = 2, 3  # transform strategies
_ALIGNMENT = 64
# The most scratch one convolution call may take (per thread that runs convolutions).
SCRATCH_BYTES = 256 * 2**20
_STATUS = {
    23: "unsupported kernel size",
    26: "unsupported algorithm",
    51: "unsupported hardware",
    52: "out of memory",
    53: "insufficient buffer",
    54: "misaligned buffer",
}


class _Size(ctypes.Structure):
    _fields_ = [("width", ctypes.c_size_t), ("height", ctypes.c_size_t)]


class _Padding(ctypes.Structure):
    _fields_ = [(side, ctypes.c_size_t) for side in ("top", "right", "bottom", "left")]


_Pointer = ctypes.c_void_p


@functools.cache
def _library() -> ctypes.CDLL | None:
    path = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        lib = ctypes.CDLL(str(path))
        infer = lib.nnp_convolution_inference
        create_pool = lib.pthreadpool_create
    except (OSError, AttributeError):
        return None
    infer.restype = ctypes.c_int
    infer.argtypes = [
        ctypes.c_int,  # algorithm
        ctypes.c_int,  # transform strategy
        ctypes.c_size_t,  # input channels
        ctypes.c_size_t,  # output channels
        _Size,  # input size
        _Padding,
        _Size,  # kernel size
        _Size,  # output subsampling
        _Pointer,  # input
        _Pointer,  # kernel
        _Pointer,  # bias
        _Pointer,  # output
        _Pointer,  # workspace
        ctypes.POINTER(ctypes.c_size_t),  # workspace size
        ctypes.c_int,  # activation
        _Pointer,  # activation parameters
        _Pointer,  # thread pool
        _Pointer,  # profile
    ]
    create_pool.restype = _Pointer
    create_pool.argtypes = [ctypes.c_size_t]
    lib.nnp_initialize.restype = ctypes.c_int
    return lib if lib.nnp_initialize() == 0 else None


def available() -> bool:
    """NNPACK is linked into this torch and runs on this CPU."""
    return _library() is not None


@functools.cache
def _pool(lib: ctypes.CDLL, threads: int) -> int | None:
    """One NNPACK thread pool per thread count (None: NNPACK runs on the caller's thread)."""
    pool: int | None = lib.pthreadpool_create(threads)
    return pool


class _Scratch(threading.local):
    """Per thread: NNPACK's scratch and the strips' input and output, kept and grown as
    needed (fresh large buffers cost a page fault per 4 KiB, more than the copies)."""

    scratch: torch.Tensor | None = None
    strip_in: torch.Tensor | None = None
    strip_out: torch.Tensor | None = None


_kept_buffers = _Scratch()


def _kept(name: str, numel: int) -> torch.Tensor:
    """This thread's float buffer ``name``, at least ``numel`` long (its first part)."""
    buffer: torch.Tensor | None = getattr(_kept_buffers, name)
    if buffer is None or buffer.numel() < numel:
        buffer = torch.empty(numel, dtype=torch.float32)
        setattr(_kept_buffers, name, buffer)
    return buffer[:numel]


def _aligned(tensor: torch.Tensor) -> int:
    return -(-tensor.data_ptr() // _ALIGNMENT) * _ALIGNMENT


def _floats_for(size: int) -> int:
    """Floats that hold ``size`` bytes from a 64-byte boundary inside them."""
    return size // 4 + _ALIGNMENT


class WinogradConv3x3(nn.Module):
    """A 3x3, stride 1, padding 1 convolution (float32, NCHW), optionally with its ReLU."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, *, relu: bool) -> None:
        super().__init__()
        if weight.shape[2:] != (3, 3):
            raise ValueError(f"a 3x3 kernel is needed, not {tuple(weight.shape[2:])}")
        lib = _library()
        if lib is None:
            raise RuntimeError("NNPACK is not available in this torch build or on this CPU")
        self._lib = lib
        self.out_channels, self.in_channels = int(weight.shape[0]), int(weight.shape[1])
        self.relu = relu
        self._bias = bias.detach().float().contiguous()
        self._threads = torch.get_num_threads()
        kernel = weight.detach().float().contiguous()
        size = ctypes.c_size_t(0)
        self._call(_PRECOMPUTE, (8, 8), None, None, None, None, None, size)
        self._kernel = torch.empty(_floats_for(size.value), dtype=torch.float32)
        self._call(_PRECOMPUTE, (8, 8), None, kernel.data_ptr(), None, None, self._kernel, size)

    def _call(
        self,
        strategy: int,
        hw: tuple[int, int],
        image: int | None,
        kernel: int | None,
        bias: int | None,
        output: int | None,
        workspace: torch.Tensor | None,
        size: ctypes.c_size_t,
        pad: tuple[int, int] = (1, 1),
    ) -> None:
        status = self._lib.nnp_convolution_inference(
            _ALGORITHM_WT8X8,
            strategy,
            self.in_channels,
            self.out_channels,
            _Size(hw[1], hw[0]),
            _Padding(pad[0], 1, pad[1], 1),
            _Size(3, 3),
            _Size(1, 1),
            image,
            kernel,
            bias,
            output,
            None if workspace is None else _aligned(workspace),
            ctypes.byref(size),
            int(self.relu),
            None,
            _pool(self._lib, self._threads),
            None,
        )
        if status != 0:
            reason = _STATUS.get(status, f"status {status}")
            raise RuntimeError(f"NNPACK convolution failed: {reason}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or x.device.type != "cpu" or x.shape[1] != self.in_channels:
            raise ValueError(f"float32 CPU input with {self.in_channels} channels expected")
        x = x.contiguous()
        batch, _, height, width = x.shape
        out = torch.empty(batch, self.out_channels, height, width)
        rows = self._strip_rows(width)
        for index in range(batch):
            if rows >= height:
                self._convolve(x[index], out[index], (1, 1))
                continue
            for top in range(0, height, rows):
                bottom = min(height, top + rows)
                # The strip's rows with their neighbours; image edges are zero-padded.
                first, last = max(0, top - 1), min(height, bottom + 1)
                source_shape = (self.in_channels, last - first, width)
                source = _kept("strip_in", math.prod(source_shape)).view(source_shape)
                source.copy_(x[index, :, first:last])
                strip_shape = (self.out_channels, bottom - top, width)
                strip = _kept("strip_out", math.prod(strip_shape)).view(strip_shape)
                pad = (int(top == 0), int(bottom == height))
                self._convolve(source, strip, pad)
                out[index, :, top:bottom] = strip
        return out

    def _strip_rows(self, width: int) -> int:
        """Output rows a call computes: NNPACK's scratch holds the transformed input and
        output of the whole call (about 7 bytes a pixel per channel in and out, 1 GiB
        for CRAFT's second layer on a 1280x960 page), so wide layers go in strips of
        whole Winograd tiles (6 rows) within SCRATCH_BYTES."""
        pixels = SCRATCH_BYTES / ((self.in_channels + self.out_channels) * 7.2)
        return max(6, int(pixels // width) // 6 * 6)

    def _convolve(self, image: torch.Tensor, result: torch.Tensor, pad: tuple[int, int]) -> None:
        """One image (C, H, W), contiguous, into ``result`` (C', H + pads - 2, W)."""
        hw = (int(image.shape[1]), int(image.shape[2]))
        pointers = (image.data_ptr(), _aligned(self._kernel), self._bias.data_ptr())
        size = ctypes.c_size_t(0)
        self._call(_REUSE, hw, *pointers, result.data_ptr(), None, size, pad)
        scratch = _kept("scratch", _floats_for(size.value))
        self._call(_REUSE, hw, *pointers, result.data_ptr(), scratch, size, pad)
